package stack

import (
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/tools/template"
)

const resolveTemplate = `
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Email: {Type: String, Default: ''}
Mappings:
  Sizes: {dev: {Shards: 1}, prod: {Shards: 4}}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasEmail: !Not [!Equals [!Ref Email, '']]
  Both: !And [!Condition IsProd, !Condition HasEmail]
  Either: !Or [!Condition IsProd, !Not [!Condition HasEmail]]
Resources:
  Queue: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub 'q-${Stage}'}}
  Fn: {Type: AWS::Serverless::Function}
`

func TestResolve(t *testing.T) {
	tmpl, err := template.Parse([]byte(resolveTemplate))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		expr any
		want any
		err  bool
	}{
		{name: "ref parameter", expr: map[string]any{"Ref": "Stage"}, want: "dev"},
		{name: "ref pseudo", expr: map[string]any{"Ref": "AWS::Region"}, want: "us-east-1"},
		{name: "ref resource", expr: map[string]any{"Ref": "Queue"}, want: "url:Queue"},
		{name: "getatt", expr: map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}, want: "arn:Queue"},
		{name: "getatt unknown attribute", expr: map[string]any{"Fn::GetAtt": []any{"Queue", "Nope"}}, err: true},
		{name: "sub with resource attribute and pseudo", expr: map[string]any{"Fn::Sub": "${AWS::AccountId}/${Queue.Arn}/${!Literal}"}, want: "123456789012/arn:Queue/${Literal}"},
		{name: "sub with variables", expr: map[string]any{"Fn::Sub": []any{"${A}-${Stage}", map[string]any{"A": "x"}}}, want: "x-dev"},
		{name: "if false", expr: map[string]any{"Fn::If": []any{"IsProd", 90, 7}}, want: 7},
		{name: "and/or/not", expr: []any{map[string]any{"Condition": "Both"}, map[string]any{"Condition": "Either"}}, want: []any{false, true}},
		{name: "no value drops the key", expr: map[string]any{"a": map[string]any{"Fn::If": []any{"IsProd", 1, map[string]any{"Ref": "AWS::NoValue"}}}, "b": 2}, want: map[string]any{"b": 2}},
		{name: "join", expr: map[string]any{"Fn::Join": []any{":", []any{"a", map[string]any{"Ref": "Stage"}}}}, want: "a:dev"},
		{name: "select", expr: map[string]any{"Fn::Select": []any{1, []any{"a", "b"}}}, want: "b"},
		{name: "find in map", expr: map[string]any{"Fn::FindInMap": []any{"Sizes", map[string]any{"Ref": "Stage"}, "Shards"}}, want: 1},
		{name: "unknown ref", expr: map[string]any{"Ref": "Nope"}, err: true},
		{name: "unsupported function", expr: map[string]any{"Fn::GetAZs": ""}, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newResolver(tmpl, "orderflow", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.ensure = func(id string) (*Physical, error) {
				return &Physical{Ref: "url:" + id, Attrs: map[string]string{"Arn": "arn:" + id}}, nil
			}
			got, err := r.resolve(tc.expr)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestResolverParameters(t *testing.T) {
	tmpl, err := template.Parse([]byte(resolveTemplate))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		overrides map[string]string
		ok        bool
	}{
		{name: "defaults", ok: true},
		{name: "allowed override", overrides: map[string]string{"Stage": "prod"}, ok: true},
		{name: "value not allowed", overrides: map[string]string{"Stage": "local"}},
		{name: "unknown parameter", overrides: map[string]string{"Nope": "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newResolver(tmpl, "s", tc.overrides)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A resource that needs itself is reported, not recursed into forever.
func TestEnsureDetectsCycles(t *testing.T) {
	tmpl, err := template.Parse([]byte(`
Resources:
  A: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt B.QueueName}}
  B: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt A.QueueName}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	p, err := newProvisioner(t.Context(), nil, tmpl, "s", nil, &notes, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ensure("A")
	if err == nil || !strings.Contains(err.Error(), "circular reference") {
		t.Fatalf("ensure: %v, want a circular reference error", err)
	}
}
