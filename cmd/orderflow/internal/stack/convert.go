package stack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// into copies a resolved property map into an SDK input struct through JSON: CloudFormation
// property names are the API's member names for DynamoDB, SQS attributes and most others,
// and encoding/json matches them case-insensitively. Unknown properties are ignored.
func into(props map[string]any, dst any) error {
	b, err := json.Marshal(props)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func str(m map[string]any, key string) string {
	s, _ := scalarString(m[key])
	return s
}

func mapOf(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func listOf(m map[string]any, key string) []any {
	switch v := m[key].(type) {
	case []any:
		return v
	case nil:
		return nil
	default:
		return []any{v}
	}
}

// intOf returns m[key] as an int, def when absent or not a number.
func intOf(m map[string]any, key string, def int) int {
	switch v := m[key].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func boolOf(m map[string]any, key string) bool {
	switch v := m[key].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// jsonString returns v as an attribute value: strings as they are, anything else as JSON.
func jsonString(v any) (string, error) {
	if s, err := scalarString(v); err == nil {
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %v: %w", v, err)
	}
	return string(b), nil
}

// arnResource returns the last component of an ARN: the name in
// arn:aws:sqs:us-east-1:123456789012:name or arn:aws:kinesis:...:stream/name.
func arnResource(arn string) string {
	i := strings.LastIndexAny(arn, ":/")
	return arn[i+1:]
}

// arnService returns the service of an ARN ("sqs", "lambda", "states", ...).
func arnService(arn string) string {
	parts := strings.SplitN(arn, ":", 4)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[2]
}
