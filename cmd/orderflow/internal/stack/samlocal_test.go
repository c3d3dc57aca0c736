package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/tools/lambdahost"
)

// samEnv is the environment `sam local invoke <LogicalID> --env-vars file` gives a
// function: the variables the template declares for it, each from the file's entry for
// the function, else its "Parameters" entry, else the template (SAM ignores what the
// template does not declare).
func samEnv(file map[string]map[string]string, f *FunctionSpec) map[string]string {
	env := map[string]string{}
	for k, v := range f.Env {
		env[k] = v
		if p, ok := file["Parameters"][k]; ok {
			env[k] = p
		}
		if own, ok := file[f.LogicalID][k]; ok {
			env[k] = own
		}
	}
	return env
}

// samLocalInvokeRecipe runs README's `sam local invoke` recipe the way SAM would, less
// Docker: events/env.local.json is what the local stack generates (its physical names,
// every variable the template declares), and every events/ sample goes through the
// built bootstrap of its function, under our Lambda Runtime API host, with exactly the
// environment that file gives it (AWS_ENDPOINT_URL aside: the file says where a container
// finds the stack's edge, this test's stack listens on a free port), against the local
// stack. No sample may fail for want of configuration: an exit at init, an AWS resource
// that is not there.
//
// It runs on TestUpProvisionsTheTemplate's stack (functions not started), to spare the
// package a stack start.
func samLocalInvokeRecipe(t *testing.T, s *Stack) {
	root := repoRoot(t)
	ctx := context.Background()

	path := filepath.Join(root, "events", "env.local.json")
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	generated, err := s.SAMEnvFile(SAMEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, generated) {
		t.Fatalf("%s is not what the local stack resolves; regenerate it: make sam-env-file\ncommitted:\n%s\ngenerated:\n%s", path, committed, generated)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(committed, &file); err != nil {
		t.Fatal(err)
	}

	bin := t.TempDir()
	if err := buildFunctions(ctx, s.specs, runnerOptions{Dir: root, BuildDir: bin}); err != nil {
		t.Fatal(err)
	}
	host := lambdahost.New(lambdahost.Options{Region: Region, AccountID: AccountID})
	t.Cleanup(func() { host.Close() })
	var out bytes.Buffer
	for _, f := range s.specs {
		env := samEnv(file, f)
		if env["AWS_ENDPOINT_URL"] != SAMEndpoint {
			t.Fatalf("%s: AWS_ENDPOINT_URL %q, want %s: the template must declare the variable for --env-vars to set it", f.LogicalID, env["AWS_ENDPOINT_URL"], SAMEndpoint)
		}
		env["AWS_ENDPOINT_URL"] = s.EdgeURL
		// What SAM passes from the shell (the recipe sets them): region and credentials.
		for k, v := range map[string]string{"AWS_REGION": Region, "AWS_DEFAULT_REGION": Region,
			"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
			env[k] = v
		}
		if err := host.Register(lambdahost.Function{Name: f.Name, Path: filepath.Join(bin, filepath.Base(f.Dir), "bootstrap"),
			Env: env, Timeout: f.Timeout, MemoryMB: f.MemoryMB, Concurrency: 1, Stdout: &out, Stderr: &out}); err != nil {
			t.Fatal(err)
		}
	}

	samples, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sample := range samples {
		name := filepath.Base(sample)
		if name == "env.local.json" {
			continue
		}
		var fn *FunctionSpec
		for _, f := range s.specs {
			if strings.HasPrefix(name, filepath.Base(f.Dir)+"-") {
				fn = f
			}
		}
		t.Run(name, func(t *testing.T) {
			if fn == nil {
				t.Fatalf("%s belongs to no function of the template (events/<function>-*.json)", name)
			}
			raw, err := os.ReadFile(sample)
			if err != nil {
				t.Fatal(err)
			}
			ictx, cancel := context.WithTimeout(ctx, fn.Timeout+10*time.Second)
			defer cancel()
			res, err := host.Invoke(ictx, fn.Name, raw)
			if err != nil {
				t.Fatalf("invoke %s: %v\n%s", fn.Name, err, out.String())
			}
			why := misconfigured(res)
			if strings.HasSuffix(name, "-poison.json") {
				// A poison sample's answer is the record it cannot read, reported as a
				// batch item failure: that, and only that, is the right answer.
				switch why {
				case "batch item failures":
					why = ""
				case "":
					why = "the poison record is not reported as a batch item failure"
				}
			}
			if why != "" {
				t.Errorf("%s with %s: %s\nanswer: %s\n%s", fn.LogicalID, name, why, res.Payload, out.String())
			}
		})
	}
}

// misconfigured says why an invoke's answer shows a function that cannot do its job
// ("" when it can): it exited or crashed (Runtime.*, Sandbox.*), failed to reach an AWS
// resource (TransientError, an HTTP 5xx, a batch item failure), or failed otherwise. A
// process task's BadTaskError is an answer about the order (this stack has none of the
// samples' orders), not about the configuration.
func misconfigured(res lambdahost.Result) string {
	switch {
	case strings.HasPrefix(res.ErrorType, "Runtime.") || strings.HasPrefix(res.ErrorType, "Sandbox."):
		return "the function did not run: " + res.ErrorType
	case res.ErrorType != "" && res.ErrorType != "BadTaskError":
		return "function error " + res.ErrorType
	}
	var answer struct {
		StatusCode        int   `json:"statusCode"`
		BatchItemFailures []any `json:"batchItemFailures"`
	}
	_ = json.Unmarshal(res.Payload, &answer)
	switch {
	case answer.StatusCode >= 500:
		return "HTTP status " + strconv.Itoa(answer.StatusCode)
	case len(answer.BatchItemFailures) > 0:
		return "batch item failures"
	}
	return ""
}
