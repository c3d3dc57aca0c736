package security

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// transformed runs tools/validate/sam_translate.py on template.yaml (the SAM transform
// `make validate` runs) and returns the CloudFormation template. It skips where python3
// or aws-sam-translator is missing, unless CI=true.
func transformed(t *testing.T) map[string]any {
	t.Helper()
	root := repoRoot(t)
	python := os.Getenv("PYTHON")
	if python == "" {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import samtranslator").Run(); err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("%s with aws-sam-translator is needed (make tools-py): %v", python, err)
		}
		t.Fatalf("%s with aws-sam-translator is needed (make tools-py): %v", python, err)
	}
	out := filepath.Join(t.TempDir(), "template.transformed.json")
	cmd := exec.Command(python, filepath.Join("tools", "validate", "sam_translate.py"), "template.yaml", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sam_translate.py: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatalf("transformed template: %v", err)
	}
	return tmpl
}

// evaluator resolves the intrinsics the API's auth depends on (Ref of a parameter,
// Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) for given parameter values.
type evaluator struct {
	tmpl   map[string]any
	params map[string]string
}

func newEvaluator(t *testing.T, tmpl map[string]any, overrides map[string]string) *evaluator {
	t.Helper()
	e := &evaluator{tmpl: tmpl, params: map[string]string{}}
	params, _ := tmpl["Parameters"].(map[string]any)
	for name, p := range params {
		if d, ok := p.(map[string]any)["Default"]; ok {
			e.params[name] = fmt.Sprint(d)
		}
	}
	for k, v := range overrides {
		if _, ok := params[k]; !ok {
			t.Fatalf("template has no parameter %s", k)
		}
		e.params[k] = v
	}
	return e
}

// resolve returns v with every Fn::If decided; other intrinsics are left as they are.
func (e *evaluator) resolve(t *testing.T, v any) any {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if args, ok := v["Fn::If"].([]any); ok && len(v) == 1 && len(args) == 3 {
			if e.condition(t, args[0].(string)) {
				return e.resolve(t, args[1])
			}
			return e.resolve(t, args[2])
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = e.resolve(t, x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = e.resolve(t, x)
		}
		return out
	}
	return v
}

func (e *evaluator) condition(t *testing.T, name string) bool {
	t.Helper()
	conds, _ := e.tmpl["Conditions"].(map[string]any)
	c, ok := conds[name]
	if !ok {
		t.Fatalf("unknown condition %s", name)
	}
	return e.boolean(t, c)
}

func (e *evaluator) boolean(t *testing.T, v any) bool {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("not a condition: %v", v)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Fn::Equals":
			return e.scalar(t, args[0]) == e.scalar(t, args[1])
		case "Fn::Not":
			return !e.boolean(t, args[0])
		case "Fn::And", "Fn::Or":
			all, anyTrue := true, false
			for _, a := range args {
				b := e.boolean(t, a)
				all, anyTrue = all && b, anyTrue || b
			}
			if fn == "Fn::And" {
				return all
			}
			return anyTrue
		case "Condition":
			return e.condition(t, arg.(string))
		}
		t.Fatalf("unsupported condition function %s", fn)
	}
	return false
}

func (e *evaluator) scalar(t *testing.T, v any) string {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["Ref"].(string); ok {
			p, ok := e.params[ref]
			if !ok {
				t.Fatalf("Ref %s: not a parameter with a value", ref)
			}
			return p
		}
		t.Fatalf("unsupported value %v", v)
	}
	return fmt.Sprint(v)
}

// operations are the OpenAPI keys of a path item that are routes.
var operations = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true,
	"head": true, "patch": true, "trace": true, "x-amazon-apigateway-any-method": true}

// apiRoutes returns each route of each HTTP API ("OrdersApi POST /orders") with its
// resolved security requirement, and the API's resolved security schemes.
func apiRoutes(t *testing.T, e *evaluator) (map[string]any, map[string]map[string]any) {
	t.Helper()
	routes := map[string]any{}
	schemes := map[string]map[string]any{}
	resources, _ := e.tmpl["Resources"].(map[string]any)
	for id, r := range resources {
		res := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::ApiGatewayV2::Route":
			// Routes outside an OpenAPI body: their own AuthorizationType.
			routes[id+" "+fmt.Sprint(e.resolve(t, props["RouteKey"]))] = e.resolve(t, props["AuthorizationType"])
		case "AWS::ApiGatewayV2::Api":
			body, ok := e.resolve(t, props["Body"]).(map[string]any)
			if !ok {
				t.Fatalf("%s: no OpenAPI Body; cannot check its routes", id)
			}
			comps, _ := body["components"].(map[string]any)
			ss, _ := comps["securitySchemes"].(map[string]any)
			for name, s := range ss {
				schemes[name], _ = s.(map[string]any)
			}
			paths, _ := body["paths"].(map[string]any)
			for path, item := range paths {
				for op, spec := range item.(map[string]any) {
					if !operations[op] {
						continue
					}
					sec, ok := spec.(map[string]any)["security"]
					if !ok {
						sec = body["security"] // the API-wide default, if any
					}
					routes[id+" "+strings.ToUpper(op)+" "+path] = sec
				}
			}
		}
	}
	return routes, schemes
}

// Every route of the HTTP API requires SigV4 (IAM) auth with the template's default
// parameters, JWT with ApiAuth=JWT, and none only with ApiAuth=NONE, which a template
// Rule allows only when Stage is dev.
func TestAPIRequiresAuthByDefault(t *testing.T) {
	tmpl := transformed(t)
	sigv4 := []any{map[string]any{"sigv4": []any{}}}
	jwt := []any{map[string]any{"jwt": []any{}}}
	cases := []struct {
		name       string
		params     map[string]string
		want       any
		wantScheme string
	}{
		{name: "defaults: IAM", params: nil, want: sigv4, wantScheme: "sigv4"},
		{name: "ApiAuth=JWT", params: map[string]string{"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example", "JwtAudience": "app"}, want: jwt, wantScheme: "jwt"},
		// The explicit opt-out (dev only, see the Rule below) is the only way to no auth.
		{name: "ApiAuth=NONE", params: map[string]string{"ApiAuth": "NONE"}, want: []any{}, wantScheme: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvaluator(t, tmpl, tc.params)
			routes, schemes := apiRoutes(t, e)
			if len(routes) < 3 {
				t.Fatalf("found %d routes, want at least POST /orders, GET /orders/{orderId} and $default: %v", len(routes), routes)
			}
			names := make([]string, 0, len(routes))
			for r := range routes {
				names = append(names, r)
			}
			sort.Strings(names)
			for _, r := range names {
				got := routes[r]
				if s, ok := got.(string); ok { // AWS::ApiGatewayV2::Route
					if (tc.wantScheme == "sigv4" && s != "AWS_IAM") || (tc.wantScheme == "jwt" && s != "JWT") || (tc.wantScheme == "" && s != "NONE") {
						t.Errorf("%s: AuthorizationType %q", r, s)
					}
					continue
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: security %v, want %v", r, got, tc.want)
				}
			}
			if tc.wantScheme == "" {
				return
			}
			s := schemes[tc.wantScheme]
			switch {
			case s == nil:
				t.Errorf("no %s security scheme: %v", tc.wantScheme, schemes)
			case tc.wantScheme == "sigv4" && s["x-amazon-apigateway-authtype"] != "awsSigv4":
				t.Errorf("sigv4 scheme is not awsSigv4: %v", s)
			case tc.wantScheme == "jwt" && fmt.Sprint(s["x-amazon-apigateway-authorizer"]) == "<nil>":
				t.Errorf("jwt scheme has no authorizer: %v", s)
			}
		})
	}
	t.Run("ApiAuth=NONE only in dev", func(t *testing.T) {
		for stage, allowed := range map[string]bool{"dev": true, "prod": false} {
			e := newEvaluator(t, tmpl, map[string]string{"ApiAuth": "NONE", "Stage": stage})
			if got := rulesPass(t, e); got != allowed {
				t.Errorf("ApiAuth=NONE with Stage=%s: the template's Rules pass = %v, want %v", stage, got, allowed)
			}
		}
		if !rulesPass(t, newEvaluator(t, tmpl, nil)) {
			t.Error("the default parameters fail the template's Rules")
		}
	})
}

// rulesPass evaluates the template's Rules (RuleCondition, Assertions) for e's parameters.
func rulesPass(t *testing.T, e *evaluator) bool {
	t.Helper()
	rules, _ := e.tmpl["Rules"].(map[string]any)
	for _, r := range rules {
		rule := r.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok && !e.boolean(t, c) {
			continue
		}
		for _, a := range rule["Assertions"].([]any) {
			if !e.boolean(t, a.(map[string]any)["Assert"]) {
				return false
			}
		}
	}
	return true
}
