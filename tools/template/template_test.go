package template

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeShortForms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want any
	}{
		{"Ref", `!Ref Stage`, map[string]any{"Ref": "Stage"}},
		{"GetAtt scalar", `!GetAtt Queue.Arn`, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"GetAtt nested output", `!GetAtt DataLake.Outputs.BucketName`, map[string]any{"Fn::GetAtt": []any{"DataLake", "Outputs.BucketName"}}},
		{"GetAtt list", `!GetAtt [Queue, Arn]`, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"Sub scalar", `!Sub "orders-${Stage}"`, map[string]any{"Fn::Sub": "orders-${Stage}"}},
		{"Sub list", "!Sub\n  - '${A}'\n  - {A: !Ref B}", map[string]any{"Fn::Sub": []any{"${A}", map[string]any{"A": map[string]any{"Ref": "B"}}}}},
		{"If nested Equals", `!If [C, !Equals [a, b], !Ref AWS::NoValue]`, map[string]any{"Fn::If": []any{"C", map[string]any{"Fn::Equals": []any{"a", "b"}}, map[string]any{"Ref": "AWS::NoValue"}}}},
		{"Join", `!Join [",", [a, b]]`, map[string]any{"Fn::Join": []any{",", []any{"a", "b"}}}},
		{"Select GetAZs", `!Select [0, !GetAZs ""]`, map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}}},
		{"Not Condition", `!Not [!Condition IsProd]`, map[string]any{"Fn::Not": []any{map[string]any{"Condition": "IsProd"}}}},
		{"And Or", `!And [!Or [!Condition A, !Condition B], !Condition C]`, map[string]any{"Fn::And": []any{
			map[string]any{"Fn::Or": []any{map[string]any{"Condition": "A"}, map[string]any{"Condition": "B"}}},
			map[string]any{"Condition": "C"}}}},
		{"FindInMap", `!FindInMap [M, k1, k2]`, map[string]any{"Fn::FindInMap": []any{"M", "k1", "k2"}}},
		{"Split", `!Split [",", "a,b"]`, map[string]any{"Fn::Split": []any{",", "a,b"}}},
		{"ImportValue", `!ImportValue shared-vpc`, map[string]any{"Fn::ImportValue": "shared-vpc"}},
		{"Base64 of Sub", `!Base64 {"Fn::Sub": "x"}`, map[string]any{"Fn::Base64": map[string]any{"Fn::Sub": "x"}}},
		{"scalars", "{i: 10, f: 1.5, b: true, n: null, s: '10', d: 2010-09-09}", map[string]any{
			"i": 10, "f": 1.5, "b": true, "n": nil, "s": "10", "d": "2010-09-09"}},
		{"JSON document", `{"Ref": "X", "l": [1, "a"]}`, map[string]any{"Ref": "X", "l": []any{1, "a"}}},
		{"anchor and alias", "a: &x {k: v}\nb: *x", map[string]any{"a": map[string]any{"k": "v"}, "b": map[string]any{"k": "v"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown tag", `!Reference X`, "unknown tag !Reference"},
		{"GetAtt without attribute", `!GetAtt Queue`, "want Resource.Attribute"},
		{"invalid yaml", "a: [b", "parse yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseSections(t *testing.T) {
	tpl, err := Parse([]byte(`
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: d
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function: {Timeout: 10}
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: IsProd
    DependsOn: T
    Metadata: {k: v}
    Properties: {QueueName: !Sub 'q-${Stage}'}
  T:
    Type: AWS::SNS::Topic
    DependsOn: [Q]
Outputs:
  QueueUrl: {Value: !Ref Q, Description: url, Condition: IsProd}
`))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"format version", tpl.AWSTemplateFormatVersion, "2010-09-09"},
		{"transform", tpl.Transform, "AWS::Serverless-2016-10-31"},
		{"parameter default", tpl.Parameters["Stage"].Default, "dev"},
		{"parameter allowed", tpl.Parameters["Stage"].AllowedValues, []any{"dev", "prod"}},
		{"condition", tpl.Conditions["IsProd"], map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Stage"}, "prod"}}},
		{"globals", tpl.Globals["Function"], map[string]any{"Timeout": 10}},
		{"resource type", tpl.Resources["Q"].Type, "AWS::SQS::Queue"},
		{"resource condition", tpl.Resources["Q"].Condition, "IsProd"},
		{"depends on string", tpl.Resources["Q"].DependsOn, []string{"T"}},
		{"depends on list", tpl.Resources["T"].DependsOn, []string{"Q"}},
		{"metadata", tpl.Resources["Q"].Metadata, map[string]any{"k": "v"}},
		{"empty properties", tpl.Resources["T"].Properties, map[string]any{}},
		{"property", tpl.Resources["Q"].Properties["QueueName"], map[string]any{"Fn::Sub": "q-${Stage}"}},
		{"output", tpl.Outputs["QueueUrl"], Output{Description: "url", Value: map[string]any{"Ref": "Q"}, Condition: "IsProd"}},
		{"ids", tpl.IDs(), []string{"Q", "T"}},
		{"ids by type", tpl.IDs("AWS::SNS::Topic"), []string{"T"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Fatalf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"not a mapping", "- a", "want a mapping"},
		{"resource without type", "Resources: {R: {Properties: {}}}", "has no Type"},
		{"resources not a mapping", "Resources: [a]", "section Resources"},
		{"parameter not a mapping", "Parameters: {P: x}", "parameter P"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTargetAndSubNames(t *testing.T) {
	tests := []struct {
		name   string
		v      any
		want   string
		wantOK bool
	}{
		{"Ref", map[string]any{"Ref": "Q"}, "Q", true},
		{"GetAtt", map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}}, "Q", true},
		{"Sub skips pseudo parameters", map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x:${F.Arn}/y"}, "F", true},
		{"Sub list form", map[string]any{"Fn::Sub": []any{"${F}", map[string]any{}}}, "F", true},
		{"Sub escaped only", map[string]any{"Fn::Sub": "${!Literal}"}, "", false},
		{"literal", "arn:aws:sqs:us-east-1:1:q", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Target(tc.v)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Target = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if got, want := SubNames("a ${X} b ${!y} ${ Z.Arn }"), []string{"X", "Z.Arn"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("SubNames = %v, want %v", got, want)
	}
}

func TestHTTPRoutes(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          /orders:
            post:
              x-amazon-apigateway-integration:
                uri: !Sub arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations
          /health:
            get:
              x-amazon-apigateway-integration: {type: mock}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: '/orders/{orderId}', ApiId: !Ref Api}}
        Default: {Type: HttpApi}
        Queue: {Type: SQS, Properties: {Queue: q}}
  V2Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: DELETE /orders/{orderId}
      Target: !Sub integrations/${Integration}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {IntegrationUri: !GetAtt Fn.Arn}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Method: "ANY", Path: "$default", Function: "Fn"},
		{API: "Api", Method: "POST", Path: "/orders", Function: "Fn"},
		{API: "Api", Method: "DELETE", Path: "/orders/{orderId}", Function: "Fn"},
		{API: "Api", Method: "GET", Path: "/orders/{orderId}", Function: "Fn"},
	}
	if got := tpl.HTTPRoutes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("HTTPRoutes =\n%+v\nwant\n%+v", got, want)
	}
}

// TestHTTPRoutesDefaultRouteMarker: the catch-all is the any-method operation marked
// isDefaultRoute, as API Gateway imports it; "/$default" without the marker is a literal
// route, and the marker makes any path the catch-all.
func TestHTTPRoutesDefaultRouteMarker(t *testing.T) {
	const api = `
Resources:
  Fn:
    Type: AWS::Serverless::Function
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          %s:
            x-amazon-apigateway-any-method:
              %s
              x-amazon-apigateway-integration: {uri: !GetAtt Fn.Arn}
`
	tests := []struct {
		name, path, marker string
		want               Route
	}{
		{"marked /$default", "/$default", "isDefaultRoute: true", Route{API: "Api", Method: "ANY", Path: "$default", Function: "Fn"}},
		{"unmarked /$default is a literal path", "/$default", "operationId: fallback", Route{API: "Api", Method: "ANY", Path: "/$default", Function: "Fn"}},
		{"marker false", "/$default", "isDefaultRoute: false", Route{API: "Api", Method: "ANY", Path: "/$default", Function: "Fn"}},
		{"marker on another path", "/{proxy+}", "isDefaultRoute: true", Route{API: "Api", Method: "ANY", Path: "$default", Function: "Fn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse([]byte(fmt.Sprintf(api, tc.path, tc.marker)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.HTTPRoutes(); !reflect.DeepEqual(got, []Route{tc.want}) {
				t.Fatalf("HTTPRoutes = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseHiveType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"string", "string"},
		{" BIGINT ", "bigint"},
		{"decimal(10,2)", "decimal(10,2)"},
		{"array<struct<sku:string,quantity:bigint>>", "array<struct<sku:string,quantity:bigint>>"},
		{"struct<metadata:struct<eventId:string>, data:map<string,array<int>>>", "struct<metadata:struct<eventId:string>,data:map<string,array<int>>>"},
	}
	for _, tc := range tests {
		h, err := ParseHiveType(tc.in)
		if err != nil || h.String() != tc.want {
			t.Errorf("ParseHiveType(%q) = %q, %v; want %q", tc.in, h.String(), err, tc.want)
		}
	}
	for _, bad := range []string{"", "struct<", "struct<a>", "array<string", "map<string>", "string>", "struct<:string>"} {
		if h, err := ParseHiveType(bad); err == nil {
			t.Errorf("ParseHiveType(%q) = %v, want an error", bad, h)
		}
	}
}

func TestGlueTables(t *testing.T) {
	tpl := load(t, "glue-tables.yaml")
	want := []GlueTable{
		{ID: "Elsewhere", Name: "other", SerDeParams: map[string]string{}, Parameters: map[string]string{}},
		{ID: "Table", Name: "events", Bucket: "Lake", Prefix: "raw/",
			Columns:       []Column{{"event_id", "string"}, {"total", "bigint"}},
			PartitionKeys: []Column{{"dt", "string"}},
			SerDe:         "org.openx.data.jsonserde.JsonSerDe", SerDeParams: map[string]string{"mapping.event_id": "eventId"},
			Parameters: map[string]string{"classification": "json"}},
	}
	if got := tpl.GlueTables(); !reflect.DeepEqual(got, want) {
		t.Fatalf("GlueTables =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRowProblems(t *testing.T) {
	g := GlueTable{
		Columns: []Column{
			{"event_id", "string"}, {"total", "bigint"},
			{"detail", "struct<metadata:struct<eventId:string>,lines:array<struct<sku:string,quantity:bigint>>,reason:string>"},
		},
		PartitionKeys: []Column{{"dt", "string"}},
		SerDeParams:   map[string]string{},
	}
	mapped := g
	mapped.SerDeParams = map[string]string{"mapping.event_id": "id"}
	strict := g
	strict.SerDeParams = map[string]string{"case.insensitive": "false"}
	tests := []struct {
		name  string
		table GlueTable
		row   string
		want  []string // substrings, one per problem, in order
	}{
		{"fits", g, `{"event_id":"e","total":5,"detail":{"metadata":{"eventId":"e"},"lines":[{"sku":"a","quantity":1}]}}`, nil},
		{"optional struct field null or absent", g, `{"event_id":"e","total":5,"detail":{"metadata":null,"reason":null}}`, nil},
		{"missing and null columns", g, `{"total":null,"detail":{}}`, []string{`column event_id: no "event_id"`, `column total: no "total"`}},
		{"wrong types", g, `{"event_id":1,"total":1.5,"detail":{"lines":[{"quantity":"2"}]}}`,
			[]string{"event_id: json.Number value does not fit string", "total: json.Number value does not fit bigint", "detail.lines[0].quantity: string value does not fit bigint"}},
		{"undeclared keys at any depth", g, `{"event_id":"e","total":1,"detail":{"metadata":{"eventId":"e","extra":1}},"source":"x"}`,
			[]string{`detail.metadata: key "extra" is not a field`, `key "source" is not a column`}},
		{"partition key in the row", g, `{"event_id":"e","total":1,"detail":{},"dt":"2026-01-01"}`, []string{"partition key dt is in the row"}},
		{"mapping names the key", mapped, `{"id":"e","total":1,"detail":{}}`, nil},
		{"mapping: the column name is not the key", mapped, `{"event_id":"e","total":1,"detail":{}}`, []string{`column event_id: no "id"`, `key "event_id" is not a column`}},
		{"case-insensitive by default", g, `{"Event_ID":"e","TOTAL":1,"detail":{"METADATA":{"EVENTID":"e"}}}`, nil},
		{"case.insensitive false", strict, `{"Event_ID":"e","total":1,"detail":{}}`, []string{`column event_id: no "event_id"`, `key "Event_ID" is not a column`}},
		{"not an object", g, `[1]`, []string{"not a JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.table.RowProblems([]byte(tc.row))
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d: %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
