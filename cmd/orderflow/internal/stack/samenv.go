package stack

import (
	"encoding/json"
	"fmt"
)

// SAMEndpoint is the AWS endpoint a container of `sam local invoke` reaches the local
// stack's edge at (Docker Desktop forwards host.docker.internal to the host's loopback).
const SAMEndpoint = "http://host.docker.internal:4566"

// SAMEnvVars returns the file `sam local invoke --env-vars` takes to run a function of
// the template against this stack: under each function's logical ID every environment
// variable the template declares for it (SAM Globals included) with the value this stack
// resolved, physical names where SAM would put a logical ID (ORDERS_TABLE=OrdersTable) or
// an empty string (a nested stack's output); and under "Parameters", which SAM applies to
// every function, AWS_ENDPOINT_URL=endpoint. Only declared variables can be set this way,
// which is why the template declares AWS_ENDPOINT_URL (empty).
func (s *Stack) SAMEnvVars(endpoint string) map[string]map[string]string {
	out := map[string]map[string]string{"Parameters": {"AWS_ENDPOINT_URL": endpoint}}
	for _, f := range s.specs {
		env := map[string]string{}
		for k, v := range f.Env {
			if k != "AWS_ENDPOINT_URL" {
				env[k] = v
			}
		}
		out[f.LogicalID] = env
	}
	return out
}

// SAMEnvFile returns SAMEnvVars as the indented JSON of events/env.local.json.
func (s *Stack) SAMEnvFile(endpoint string) ([]byte, error) {
	b, err := json.MarshalIndent(s.SAMEnvVars(endpoint), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sam env file: %w", err)
	}
	return append(b, '\n'), nil
}
