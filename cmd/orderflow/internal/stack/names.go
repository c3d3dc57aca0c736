package stack

import (
	"fmt"

	"github.com/orderflow/orderflow/tools/template"
)

// nameProperties is the property that names a resource, by type.
var nameProperties = map[string]string{
	"AWS::DynamoDB::Table":             "TableName",
	"AWS::SQS::Queue":                  "QueueName",
	"AWS::SNS::Topic":                  "TopicName",
	"AWS::Kinesis::Stream":             "Name",
	"AWS::Events::EventBus":            "Name",
	"AWS::Events::Rule":                "Name",
	"AWS::S3::Bucket":                  "BucketName",
	"AWS::Serverless::Function":        "FunctionName",
	"AWS::Lambda::Function":            "FunctionName",
	"AWS::Serverless::StateMachine":    "Name",
	"AWS::StepFunctions::StateMachine": "StateMachineName",
}

// Names returns the physical names template.yaml gives its resources for the parameters
// params (Stage defaults to the template's default), by logical ID, without creating
// anything: what the console needs to find a deployed stack's resources. A resource whose
// name only a deployment knows (no name property, a nested stack's output, a false
// condition) is left out. It returns an error for a bad parameter.
func Names(t *template.Template, params map[string]string) (map[string]string, error) {
	r, err := newResolver(t, "orderflow", params)
	if err != nil {
		return nil, err
	}
	busy := map[string]bool{}
	r.ensure = func(id string) (*Physical, error) {
		if busy[id] {
			return nil, fmt.Errorf("circular reference through %s", id)
		}
		busy[id] = true
		defer delete(busy, id)
		res := t.Resources[id]
		prop := nameProperties[res.Type]
		if prop == "" {
			return nil, fmt.Errorf("%s (%s) has no name property", id, res.Type)
		}
		name, err := r.String(res.Properties[prop])
		if err != nil || name == "" {
			return nil, fmt.Errorf("%s: no resolvable %s", id, prop)
		}
		return &Physical{Ref: name, Attrs: map[string]string{"Name": name, "QueueName": name, "Arn": name}}, nil
	}
	out := map[string]string{}
	for _, id := range t.IDs() {
		if c := t.Resources[id].Condition; c != "" {
			if ok, err := r.condition(c); err != nil || !ok {
				continue
			}
		}
		if p, err := r.ensure(id); err == nil {
			out[id] = p.Ref
		}
	}
	return out, nil
}
