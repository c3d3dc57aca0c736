package stack

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/tools/template"
)

// Pseudo-parameter values of the local stack (moto's default account).
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
	Partition = "aws"
)

// noValue is what Ref AWS::NoValue resolves to: the enclosing key or list item is dropped.
type noValue struct{}

// Physical is what a provisioned (or skipped) resource resolves to: its Ref value and its
// attributes for Fn::GetAtt.
type Physical struct {
	Ref   string
	Attrs map[string]string
	// lookup, when set, answers attributes not in Attrs (a nested stack's Outputs.X).
	lookup func(attr string) (string, error)
}

// resolver evaluates the intrinsic functions of one template. ensure returns the physical
// resource of a logical ID, provisioning it on first use; so resources are created in
// dependency order without a second list of them.
type resolver struct {
	t      *template.Template
	stack  string
	params map[string]any
	conds  map[string]bool
	ensure func(id string) (*Physical, error)
}

func newResolver(t *template.Template, stack string, overrides map[string]string) (*resolver, error) {
	r := &resolver{t: t, stack: stack, params: map[string]any{}, conds: map[string]bool{}}
	for id, p := range t.Parameters {
		v := p.Default
		if o, ok := overrides[id]; ok {
			v = o
		}
		if v == nil {
			return nil, fmt.Errorf("parameter %s has no default: set it", id)
		}
		if len(p.AllowedValues) > 0 && !allowed(p.AllowedValues, v) {
			return nil, fmt.Errorf("parameter %s=%v is not one of %v", id, v, p.AllowedValues)
		}
		r.params[id] = v
	}
	for id := range overrides {
		if _, ok := t.Parameters[id]; !ok {
			return nil, fmt.Errorf("parameter %s is not in the template", id)
		}
	}
	return r, nil
}

func allowed(vals []any, v any) bool {
	for _, a := range vals {
		if fmt.Sprint(a) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

// condition evaluates a named condition.
func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.conds[name]; ok {
		return v, nil
	}
	expr, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %s", name)
	}
	v, err := r.resolve(expr)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %T, want a boolean", name, v)
	}
	r.conds[name] = b
	return b, nil
}

// resolve evaluates every intrinsic function in v.
func (r *resolver) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := r.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := rv.(noValue); !drop {
				out[k] = rv
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			rv, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := rv.(noValue); !drop {
				out = append(out, rv)
			}
		}
		return out, nil
	}
	return v, nil
}

// String resolves v and formats the result as CloudFormation does for a string property.
func (r *resolver) String(v any) (string, error) {
	rv, err := r.resolve(v)
	if err != nil {
		return "", err
	}
	return scalarString(rv)
}

func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int, int64, float64, bool:
		return fmt.Sprint(x), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("value %v is %T, want a scalar", v, v)
}

func (r *resolver) pseudo(name string) (any, bool) {
	switch name {
	case "AWS::Region":
		return Region, true
	case "AWS::AccountId":
		return AccountID, true
	case "AWS::Partition":
		return Partition, true
	case "AWS::StackName":
		return r.stack, true
	case "AWS::StackId":
		return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/local", Region, AccountID, r.stack), true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::NoValue":
		return noValue{}, true
	case "AWS::NotificationARNs":
		return []any{}, true
	}
	return nil, false
}

func (r *resolver) ref(name string) (any, error) {
	if v, ok := r.pseudo(name); ok {
		return v, nil
	}
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	if _, ok := r.t.Resources[name]; ok {
		p, err := r.ensure(name)
		if err != nil {
			return nil, err
		}
		return p.Ref, nil
	}
	return nil, fmt.Errorf("Ref %s: no such parameter or resource", name)
}

func (r *resolver) getAtt(id, attr string) (string, error) {
	if _, ok := r.t.Resources[id]; !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	p, err := r.ensure(id)
	if err != nil {
		return "", err
	}
	v, ok := p.Attrs[attr]
	if !ok && p.lookup != nil {
		return p.lookup(attr)
	}
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: attribute not available locally", id, attr)
	}
	return v, nil
}

// intrinsic evaluates the intrinsic function fn with its (unresolved) argument arg; it
// returns an error for a malformed argument or a function the local stack cannot evaluate.
func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return r.fnRef(arg)
	case "Condition":
		return r.fnCondition(arg)
	case "Fn::GetAtt":
		return r.fnGetAtt(arg)
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::If":
		return r.fnIf(arg)
	case "Fn::Equals":
		return r.fnEquals(arg)
	case "Fn::Not":
		return r.fnNot(arg)
	case "Fn::And", "Fn::Or":
		return r.fnAndOr(fn, arg)
	case "Fn::Join":
		return r.fnJoin(arg)
	case "Fn::Select":
		return r.fnSelect(arg)
	case "Fn::Split":
		return r.fnSplit(arg)
	case "Fn::FindInMap":
		return r.fnFindInMap(arg)
	case "Fn::ToJsonString":
		return r.fnToJSONString(arg)
	}
	return nil, fmt.Errorf("%s is not supported locally", fn)
}

func (r *resolver) fnRef(arg any) (any, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, fmt.Errorf("Ref of %T", arg)
	}
	return r.ref(name)
}

func (r *resolver) fnCondition(arg any) (any, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, fmt.Errorf("Condition of %T", arg)
	}
	return r.condition(name)
}

// fnGetAtt takes "Resource.Attribute" or [resource, attribute].
func (r *resolver) fnGetAtt(arg any) (any, error) {
	var parts []string
	switch a := arg.(type) {
	case string:
		id, attr, _ := strings.Cut(a, ".")
		parts = []string{id, attr}
	case []any:
		for _, e := range a {
			s, err := r.String(e)
			if err != nil {
				return nil, err
			}
			parts = append(parts, s)
		}
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("Fn::GetAtt %v: want [resource, attribute]", arg)
	}
	return r.getAtt(parts[0], parts[1])
}

// fnIf resolves only the branch the condition picks.
func (r *resolver) fnIf(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 3 {
		return nil, fmt.Errorf("Fn::If wants [condition, then, else]")
	}
	name, _ := a[0].(string)
	c, err := r.condition(name)
	if err != nil {
		return nil, err
	}
	if c {
		return r.resolve(a[1])
	}
	return r.resolve(a[2])
}

func (r *resolver) fnEquals(arg any) (any, error) {
	a, err := r.args("Fn::Equals", arg, 2)
	if err != nil {
		return nil, err
	}
	return fmt.Sprint(a[0]) == fmt.Sprint(a[1]) || reflect.DeepEqual(a[0], a[1]), nil
}

func (r *resolver) fnNot(arg any) (any, error) {
	a, err := r.args("Fn::Not", arg, 1)
	if err != nil {
		return nil, err
	}
	b, ok := a[0].(bool)
	if !ok {
		return nil, fmt.Errorf("Fn::Not of %T", a[0])
	}
	return !b, nil
}

// fnAndOr is Fn::And or Fn::Or (fn) over any number of booleans.
func (r *resolver) fnAndOr(fn string, arg any) (any, error) {
	a, err := r.args(fn, arg, -1)
	if err != nil {
		return nil, err
	}
	res := fn == "Fn::And"
	for _, e := range a {
		b, ok := e.(bool)
		if !ok {
			return nil, fmt.Errorf("%s of %T", fn, e)
		}
		if fn == "Fn::And" {
			res = res && b
		} else {
			res = res || b
		}
	}
	return res, nil
}

func (r *resolver) fnJoin(arg any) (any, error) {
	a, err := r.args("Fn::Join", arg, 2)
	if err != nil {
		return nil, err
	}
	sep, _ := a[0].(string)
	list, ok := a[1].([]any)
	if !ok {
		return nil, fmt.Errorf("Fn::Join: second argument is %T", a[1])
	}
	parts := make([]string, 0, len(list))
	for _, e := range list {
		s, err := scalarString(e)
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, sep), nil
}

func (r *resolver) fnSelect(arg any) (any, error) {
	a, err := r.args("Fn::Select", arg, 2)
	if err != nil {
		return nil, err
	}
	i, err := strconv.Atoi(fmt.Sprint(a[0]))
	list, ok := a[1].([]any)
	if err != nil || !ok || i < 0 || i >= len(list) {
		return nil, fmt.Errorf("Fn::Select %v out of range", a[0])
	}
	return list[i], nil
}

func (r *resolver) fnSplit(arg any) (any, error) {
	a, err := r.args("Fn::Split", arg, 2)
	if err != nil {
		return nil, err
	}
	sep, _ := a[0].(string)
	s, _ := a[1].(string)
	var out []any
	for _, p := range strings.Split(s, sep) {
		out = append(out, p)
	}
	return out, nil
}

func (r *resolver) fnFindInMap(arg any) (any, error) {
	a, err := r.args("Fn::FindInMap", arg, 3)
	if err != nil {
		return nil, err
	}
	m, _ := r.t.Mappings[fmt.Sprint(a[0])].(map[string]any)
	second, _ := m[fmt.Sprint(a[1])].(map[string]any)
	v, ok := second[fmt.Sprint(a[2])]
	if !ok {
		return nil, fmt.Errorf("Fn::FindInMap %v: not found", a)
	}
	return r.resolve(v)
}

func (r *resolver) fnToJSONString(arg any) (any, error) {
	v, err := r.resolve(arg)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// args resolves the argument list of fn and checks its length (-1: any).
func (r *resolver) args(fn string, arg any, n int) ([]any, error) {
	v, err := r.resolve(arg)
	if err != nil {
		return nil, err
	}
	a, ok := v.([]any)
	if !ok || (n >= 0 && len(a) != n) {
		return nil, fmt.Errorf("%s wants %d arguments, got %v", fn, n, arg)
	}
	return a, nil
}

// sub evaluates Fn::Sub: "s" or ["s", {vars}].
func (r *resolver) sub(arg any) (any, error) {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub wants a string or [string, variables]")
		}
		s, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			rv, err := r.resolve(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = rv
		}
	default:
		return nil, fmt.Errorf("Fn::Sub of %T", arg)
	}
	return r.substitute(s, func(name string) (string, error) {
		if v, ok := vars[name]; ok {
			return scalarString(v)
		}
		if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			return r.getAtt(id, attr)
		}
		v, err := r.ref(name)
		if err != nil {
			return "", err
		}
		return scalarString(v)
	})
}

// substitute replaces ${name} in s with lookup(name) and ${!literal} with ${literal}.
func (r *resolver) substitute(s string, lookup func(string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
		} else {
			v, err := lookup(strings.TrimSpace(name))
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		}
		s = s[i+j+1:]
	}
}
