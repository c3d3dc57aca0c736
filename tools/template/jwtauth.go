package template

import (
	"fmt"
	"sort"
	"strings"
)

// CustomerClaimVariable is the environment variable that tells a function serving a
// JWT-protected route which claim of the token names the calling customer
// (pkg/handler/ingest's CustomerClaim).
const CustomerClaimVariable = "CUSTOMER_CLAIM"

// CheckJWTAuth checks that JWT mode reaches the functions: a JWT authorizer validates
// tokens but knows nothing of orders, so unless the claim that names the customer
// reaches the function, any valid token reads any order. JWT mode is the template with
// every parameter that allows the value "JWT" set to it (ApiAuth=JWT); an API with no
// JWT authorizer in that mode is not checked. For each such API it reports:
//   - a JWT authorizer without an issuer or an audience;
//   - a function behind a JWT-protected route whose environment has no CUSTOMER_CLAIM
//     (a parameter or a literal) in JWT mode, or has one in the default mode, where no
//     authorizer passes claims (every request would be refused);
//   - no GET /orders route behind the authorizer (customers could not list their own
//     orders), or a function serving it that may not Query an index.
func CheckJWTAuth(t *Template) []Problem {
	jwtParams := map[string]string{}
	for name, p := range t.Parameters {
		for _, v := range p.AllowedValues {
			if v == "JWT" {
				jwtParams[name] = "JWT"
			}
		}
	}
	var ps []Problem
	add := func(id, format string, args ...any) {
		ps = append(ps, Problem{"jwt-auth", id, fmt.Sprintf(format, args...)})
	}
	for _, aid := range t.IDs("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api") {
		body, err := t.apiBody(aid, jwtParams)
		if err != nil {
			add(aid, "cannot evaluate the OpenAPI body in JWT mode: %v", err)
			continue
		}
		schemes := jwtSchemes(body)
		if len(schemes) == 0 {
			continue
		}
		for _, name := range sortedNames(schemes) {
			cfg, _ := schemes[name]["jwtConfiguration"].(map[string]any)
			if !given(cfg["issuer"]) {
				add(aid, "JWT authorizer %s has no issuer", name)
			}
			auds := list(cfg["audience"])
			if len(auds) == 0 || !given(auds[0]) {
				add(aid, "JWT authorizer %s has no audience", name)
			}
		}
		served := map[string]bool{} // functions behind the JWT authorizer
		listRoute := ""
		paths, _ := body["paths"].(map[string]any)
		for _, path := range sortedNames(paths) {
			ops, _ := paths[path].(map[string]any)
			for _, method := range sortedNames(ops) {
				op, _ := ops[method].(map[string]any)
				integ, _ := op["x-amazon-apigateway-integration"].(map[string]any)
				fid, ok := Target(integ["uri"])
				if !ok || !t.isFunction(fid) {
					continue
				}
				sec, ok := op["security"]
				if !ok {
					sec = body["security"]
				}
				if !securedBy(sec, schemes) {
					continue
				}
				served[fid] = true
				if path == "/orders" && strings.EqualFold(method, "get") {
					listRoute = fid
				}
			}
		}
		if listRoute == "" {
			add(aid, "no GET /orders route behind the JWT authorizer: customers cannot list their own orders")
		} else if !t.mayQueryIndex(listRoute) {
			add(listRoute, "serves GET /orders but may not dynamodb:Query an index (<table ARN>/index/<name>)")
		}
		defaults, err := t.apiBody(aid, nil)
		jwtByDefault := err == nil && len(jwtSchemes(defaults)) > 0
		for _, fid := range sortedNames(served) {
			claim := functionEnv(t, fid)[CustomerClaimVariable]
			if v, err := t.decide(claim, jwtParams); err != nil || !given(v) {
				add(fid, "serves routes behind the JWT authorizer but has no %s in JWT mode: it cannot tell whose orders a caller may see", CustomerClaimVariable)
			}
			if v, err := t.decide(claim, nil); err == nil && given(v) && !jwtByDefault {
				add(fid, "has %s with the default parameters, where no JWT authorizer passes claims", CustomerClaimVariable)
			}
		}
	}
	sortProblems(ps)
	return ps
}

// jwtSchemes returns the security schemes of an OpenAPI body that are JWT authorizers.
func jwtSchemes(body map[string]any) map[string]map[string]any {
	comps, _ := body["components"].(map[string]any)
	ss, _ := comps["securitySchemes"].(map[string]any)
	out := map[string]map[string]any{}
	for name, s := range ss {
		m, _ := s.(map[string]any)
		auth, _ := m["x-amazon-apigateway-authorizer"].(map[string]any)
		if typ, _ := auth["type"].(string); strings.EqualFold(typ, "jwt") {
			out[name] = auth
		}
	}
	return out
}

// apiBody returns the OpenAPI body of API aid with every Fn::If decided for params.
func (t *Template) apiBody(aid string, params map[string]string) (map[string]any, error) {
	props := t.Resources[aid].Properties
	raw, ok := props["DefinitionBody"]
	if !ok {
		raw = props["Body"]
	}
	decided, err := t.decide(raw, params)
	body, _ := decided.(map[string]any)
	return body, err
}

// securedBy reports whether an OpenAPI security requirement list names one of schemes.
func securedBy(sec any, schemes map[string]map[string]any) bool {
	for _, req := range list(sec) {
		m, _ := req.(map[string]any)
		for name := range m {
			if schemes[name] != nil {
				return true
			}
		}
	}
	return false
}

// functionEnv returns a function's environment variables as written, with SAM's Globals.
func functionEnv(t *Template, fid string) map[string]any {
	vars := map[string]any{}
	g, _ := t.Globals["Function"].(map[string]any)
	for _, src := range []map[string]any{g, t.Resources[fid].Properties} {
		env, _ := src["Environment"].(map[string]any)
		v, _ := env["Variables"].(map[string]any)
		for k, x := range v {
			vars[k] = x
		}
	}
	return vars
}

// mayQueryIndex reports whether a function's policies allow dynamodb:Query on an index.
func (t *Template) mayQueryIndex(fid string) bool {
	for _, s := range statements(fid, t.Resources[fid]) {
		if s.stmt["Effect"] != "Allow" || !contains(allStrings(s.stmt["Action"]), "dynamodb:Query") {
			continue
		}
		for _, r := range allStrings(s.stmt["Resource"]) {
			if strings.Contains(r, "/index/") || r == "*" {
				return true
			}
		}
	}
	return false
}

// given reports whether a value is set: a non-empty literal, or an intrinsic (a Ref to
// a parameter, which CloudFormation fills in).
func given(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && ref == "AWS::NoValue" {
			return false
		}
	}
	return true
}

// decide returns v with every Fn::If decided for params (parameters not given take
// their Default) and every value that is Ref AWS::NoValue dropped; other intrinsics are
// left as they are. It returns an error for a condition it cannot evaluate.
func (t *Template) decide(v any, params map[string]string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(args) == 3 {
			name, _ := args[0].(string)
			yes, err := t.ConditionValue(name, params)
			if err != nil {
				return nil, err
			}
			if yes {
				return t.decide(args[1], params)
			}
			return t.decide(args[2], params)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			d, err := t.decide(e, params)
			if err != nil {
				return nil, err
			}
			if !isNoValue(d) {
				out[k] = d
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			d, err := t.decide(e, params)
			if err != nil {
				return nil, err
			}
			if !isNoValue(d) {
				out = append(out, d)
			}
		}
		return out, nil
	}
	return v, nil
}

func isNoValue(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 1 && m["Ref"] == "AWS::NoValue"
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
