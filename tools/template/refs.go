package template

import (
	"regexp"
	"sort"
	"strings"
)

// Target returns the logical ID a value points at: the X of {"Ref": X},
// {"Fn::GetAtt": [X, ...]} or of the first ${X} / ${X.Attr} in an {"Fn::Sub": ...} string.
// ok is false for anything else (a literal, a parameter reference is still returned: callers
// look the ID up in Resources).
func Target(v any) (id string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", false
	}
	if r, isRef := m["Ref"].(string); isRef {
		return r, true
	}
	if ga, isGA := m["Fn::GetAtt"].([]any); isGA && len(ga) > 0 {
		s, isStr := ga[0].(string)
		return s, isStr
	}
	if sub, isSub := m["Fn::Sub"]; isSub {
		s, _ := sub.(string)
		if l, isList := sub.([]any); isList && len(l) > 0 {
			s, _ = l[0].(string)
		}
		for _, name := range SubNames(s) {
			if strings.HasPrefix(name, "AWS::") {
				continue
			}
			res, _, _ := strings.Cut(name, ".")
			return res, true
		}
	}
	return "", false
}

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// SubNames returns the variable names of an Fn::Sub (or ASL DefinitionSubstitutions) string
// in order of appearance: "arn:${AWS::Partition}:${Queue.Arn}" gives
// ["AWS::Partition", "Queue.Arn"]. Escaped literals (${!Literal}) are skipped.
func SubNames(s string) []string {
	var names []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		names = append(names, strings.TrimSpace(m[1]))
	}
	return names
}

// Route is one HTTP API route of the template: Method is upper case or "ANY", Path is a
// path template ("/orders/{orderId}") or "$default", Function the logical ID of the Lambda
// function that serves it, API the logical ID of the API (empty for SAM's implicit API).
type Route struct {
	API      string
	Method   string
	Path     string
	Function string
}

// HTTPRoutes returns the HTTP API routes declared in the template, sorted by path and
// method: HttpApi events of AWS::Serverless::Function resources, operations of an
// AWS::Serverless::HttpApi (or AWS::ApiGatewayV2::Api) OpenAPI body whose
// x-amazon-apigateway-integration points at a function, and AWS::ApiGatewayV2::Route
// resources with a Lambda integration.
func (t *Template) HTTPRoutes() []Route {
	var routes []Route
	for _, fid := range t.IDs("AWS::Serverless::Function") {
		events, _ := t.Resources[fid].Properties["Events"].(map[string]any)
		for _, ev := range events {
			e, _ := ev.(map[string]any)
			if e["Type"] != "HttpApi" {
				continue
			}
			p, _ := e["Properties"].(map[string]any)
			rt := Route{Method: "ANY", Path: "$default", Function: fid}
			if s, ok := p["Method"].(string); ok {
				rt.Method = strings.ToUpper(s)
			}
			if s, ok := p["Path"].(string); ok {
				rt.Path = s
			}
			if id, ok := Target(p["ApiId"]); ok {
				rt.API = id
			}
			routes = append(routes, rt)
		}
	}
	for _, aid := range t.IDs("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api") {
		for path, item := range openAPIPaths(t.Resources[aid].Properties) {
			ops, _ := item.(map[string]any)
			for method, op := range ops {
				o, _ := op.(map[string]any)
				integ, _ := o["x-amazon-apigateway-integration"].(map[string]any)
				fid, ok := Target(integ["uri"])
				if !ok || !t.isFunction(fid) {
					continue
				}
				rt := Route{API: aid, Method: strings.ToUpper(method), Path: path, Function: fid}
				if method == anyMethod {
					rt.Method = "ANY"
					// API Gateway's import makes the catch-all route of exactly this marker;
					// a "/$default" path without it is a literal path.
					if o["isDefaultRoute"] == true {
						rt.Path = "$default"
					}
				}
				routes = append(routes, rt)
			}
		}
	}
	for _, rid := range t.IDs("AWS::ApiGatewayV2::Route") {
		p := t.Resources[rid].Properties
		key, _ := p["RouteKey"].(string)
		target, _ := p["Target"].(map[string]any)
		iid, ok := Target(target)
		if !ok {
			continue
		}
		fid, ok := Target(t.Resources[iid].Properties["IntegrationUri"])
		if !ok || !t.isFunction(fid) {
			continue
		}
		rt := Route{Method: "ANY", Path: key, Function: fid}
		if m, path, found := strings.Cut(key, " "); found {
			rt.Method, rt.Path = strings.ToUpper(m), path
		}
		rt.API, _ = Target(p["ApiId"])
		routes = append(routes, rt)
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].Path != routes[j].Path {
			return routes[i].Path < routes[j].Path
		}
		return routes[i].Method < routes[j].Method
	})
	return routes
}

func (t *Template) isFunction(id string) bool {
	typ := t.Resources[id].Type
	return typ == "AWS::Serverless::Function" || typ == "AWS::Lambda::Function"
}

// strings returns every string found anywhere in v (inside intrinsics too), in order.
func allStrings(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		}
	}
	walk(v)
	return out
}

// list returns v as a list: a list as is, a single value as a one-element list, nil as nil.
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}
