package template

import (
	"fmt"
	"strings"
)

// ConditionValue evaluates the named condition of the Conditions section with the given
// parameter values; parameters not given take their Default. A List or
// CommaDelimitedList parameter is split on commas. It understands what conditions are
// made of (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, Ref to a parameter,
// Fn::Join, Fn::Select, literals) and returns an error for anything else, an unknown
// condition or parameter, or a parameter with neither a value nor a default.
func (t *Template) ConditionValue(name string, params map[string]string) (bool, error) {
	return t.condition(name, params, map[string]bool{})
}

func (t *Template) condition(name string, params map[string]string, visiting map[string]bool) (bool, error) {
	expr, ok := t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	if visiting[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	visiting[name] = true
	defer delete(visiting, name)
	v, err := t.evalCondition(expr, params, visiting)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %T, want a boolean", name, v)
	}
	return b, nil
}

func (t *Template) evalCondition(v any, params map[string]string, visiting map[string]bool) (any, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		switch x := v.(type) {
		case string, bool, []any:
			return x, nil
		case int, float64:
			return fmt.Sprint(x), nil
		}
		return nil, fmt.Errorf("cannot evaluate %v", v)
	}
	var fn string
	var arg any
	for fn, arg = range m {
	}
	args, _ := arg.([]any)
	eval := func(i int) (any, error) {
		if i >= len(args) {
			return nil, fmt.Errorf("%s: missing argument %d", fn, i)
		}
		return t.evalCondition(args[i], params, visiting)
	}
	switch fn {
	case "Condition":
		name, _ := arg.(string)
		return t.condition(name, params, visiting)
	case "Ref":
		name, _ := arg.(string)
		return t.paramValue(name, params)
	case "Fn::Equals":
		a, err := eval(0)
		if err != nil {
			return nil, err
		}
		b, err := eval(1)
		if err != nil {
			return nil, err
		}
		return fmt.Sprint(a) == fmt.Sprint(b), nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		var out bool
		for i := range args {
			x, err := eval(i)
			if err != nil {
				return nil, err
			}
			b, ok := x.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: argument %d is %T, want a boolean", fn, i, x)
			}
			switch {
			case fn == "Fn::Not":
				return !b, nil
			case i == 0:
				out = b
			case fn == "Fn::And":
				out = out && b
			default:
				out = out || b
			}
		}
		return out, nil
	case "Fn::Join":
		sep, _ := args[0].(string)
		list, err := eval(1)
		if err != nil {
			return nil, err
		}
		parts, ok := list.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join of %T", list)
		}
		strs := make([]string, len(parts))
		for i, p := range parts {
			s, err := t.evalCondition(p, params, visiting)
			if err != nil {
				return nil, err
			}
			strs[i] = fmt.Sprint(s)
		}
		return strings.Join(strs, sep), nil
	case "Fn::Select":
		idx, err := eval(0)
		if err != nil {
			return nil, err
		}
		list, err := eval(1)
		if err != nil {
			return nil, err
		}
		parts, _ := list.([]any)
		var i int
		if _, err := fmt.Sscan(fmt.Sprint(idx), &i); err != nil || i < 0 || i >= len(parts) {
			return nil, fmt.Errorf("Fn::Select index %v out of range", idx)
		}
		return t.evalCondition(parts[i], params, visiting)
	}
	return nil, fmt.Errorf("%s is not evaluated in conditions here", fn)
}

// paramValue returns a parameter's value (given, else its default): a string, or for a
// list type the list of its comma-separated items.
func (t *Template) paramValue(name string, params map[string]string) (any, error) {
	p, ok := t.Parameters[name]
	if !ok {
		return nil, fmt.Errorf("Ref %s: not a parameter", name)
	}
	s, given := params[name]
	if !given {
		if p.Default == nil {
			return nil, fmt.Errorf("parameter %s has no value and no default", name)
		}
		s = fmt.Sprint(p.Default)
	}
	if p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<") {
		var out []any
		for _, item := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(item))
		}
		return out, nil
	}
	return s, nil
}

// Resolve returns v with every Fn::If decided for params and, when v is a Ref to a
// parameter, that parameter's value (given, else its default). Other intrinsics are left
// as they are. It returns an error for a condition or parameter it cannot evaluate.
func (t *Template) Resolve(v any, params map[string]string) (any, error) {
	d, err := t.decide(v, params)
	if err != nil {
		return nil, err
	}
	if m, ok := d.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Ref"].(string); ok {
			if _, isParam := t.Parameters[name]; isParam {
				return t.paramValue(name, params)
			}
		}
	}
	return d, nil
}
