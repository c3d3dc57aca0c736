package template

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// ruleActions are the EventBridge actions with which another account creates and manages
// its own rules on a bus (and their targets, which live in its own account). Nothing
// else is granted to consumers: PutEvents would let them publish as orderflow.
var ruleActions = []string{
	"events:PutRule", "events:PutTargets", "events:DeleteRule", "events:DescribeRule",
	"events:DisableRule", "events:EnableRule", "events:RemoveTargets", "events:ListTargetsByRule",
}

// busStatement is one statement of an event bus's resource policy.
type busStatement struct {
	resource string // the logical ID it comes from
	label    string
	stmt     map[string]any
}

// busStatements returns the statements of every event bus policy in t: the Statement
// (or the older Action/Principal/Condition properties) of each AWS::Events::EventBusPolicy,
// and the Policy document of each AWS::Events::EventBus.
func (t *Template) busStatements() ([]busStatement, []Problem) {
	var out []busStatement
	var ps []Problem
	for _, id := range t.IDs("AWS::Events::EventBusPolicy") {
		p := t.Resources[id].Properties
		st := p["Statement"]
		if s, ok := st.(string); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				ps = append(ps, Problem{"bus-policy", id, "Statement is not JSON: " + err.Error()})
				continue
			}
			st = m
		}
		m, ok := st.(map[string]any)
		if !ok {
			m = map[string]any{"Effect": "Allow", "Action": p["Action"], "Principal": map[string]any{"AWS": p["Principal"]},
				"Condition": p["Condition"], "Resource": "*"}
		}
		out = append(out, busStatement{id, "Statement", m})
	}
	for _, id := range t.IDs("AWS::Events::EventBus") {
		doc, _ := t.Resources[id].Properties["Policy"].(map[string]any)
		for i, s := range list(doc["Statement"]) {
			if m, ok := s.(map[string]any); ok {
				out = append(out, busStatement{id, fmt.Sprintf("Policy Statement[%d]", i), m})
			}
		}
	}
	return out, ps
}

// outsider reports whether a statement's Principal may be another account: anything but
// the stack's own account (Ref AWS::AccountId, or arn:...:root of it through Fn::Sub).
func outsider(principal any) bool {
	m, ok := principal.(map[string]any)
	if !ok {
		return true // "*" or a literal
	}
	if len(m) == 1 && m["Service"] != nil {
		return false // an AWS service acting for this account, e.g. events.amazonaws.com
	}
	for _, p := range list(m["AWS"]) {
		r, _ := p.(map[string]any)
		if r["Ref"] == "AWS::AccountId" || r["Fn::Sub"] == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" {
			continue
		}
		return true
	}
	return len(m) == 0
}

// matches reports whether an IAM action pattern (with * and ?) covers action.
func matches(pattern, action string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return ok
}

// conditionValue returns the value of key under operator op in a statement's Condition.
func conditionValue(cond any, op, key string) (any, bool) {
	c, _ := cond.(map[string]any)
	o, _ := c[op].(map[string]any)
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// CheckBusPolicy reports event bus policies that open the bus too far. A statement that
// allows anyone but the stack's own account must: never allow events:PutEvents (outsiders
// would publish events consumers trust as orderflow's), allow only the rule actions
// (ruleActions), on rules of the bus only (Resource .../rule/<bus>/*), only for rules the
// caller's account created (events:creatorAccount = ${aws:PrincipalAccount}), and for
// PutRule only with the stack's event source (StringEquals events:source). The policy
// resource must have a Condition that is false when every parameter has its default, so
// that no account is let in unless the deployer names it.
func CheckBusPolicy(t *Template) []Problem {
	stmts, ps := t.busStatements()
	for _, s := range stmts {
		if s.stmt["Effect"] != "Allow" || !outsider(s.stmt["Principal"]) {
			continue
		}
		add := func(msg string) { ps = append(ps, Problem{"bus-policy", s.resource, s.label + ": " + msg}) }
		actions := allStrings(s.stmt["Action"])
		if s.stmt["NotAction"] != nil {
			add("NotAction in an Allow statement for other accounts")
		}
		for _, a := range actions {
			if matches(a, "events:PutEvents") {
				add(fmt.Sprintf("grants events:PutEvents (%q) to other accounts", a))
			} else if !contains(ruleActions, a) {
				add(fmt.Sprintf("action %q is not one of the rule actions %v", a, ruleActions))
			}
		}
		if s.stmt["Resource"] == nil {
			add("no Resource")
		}
		for _, r := range list(s.stmt["Resource"]) {
			arn, _ := r.(string)
			if m, ok := r.(map[string]any); ok {
				arn, _ = m["Fn::Sub"].(string)
			}
			if !strings.Contains(arn, ":rule/") || !strings.HasSuffix(arn, "/*") {
				shown, _ := json.Marshal(r)
				add(fmt.Sprintf("Resource %s is not the rules of a bus (arn:...:rule/<bus>/*)", shown))
			}
		}
		creator := false
		for _, op := range []string{"StringEquals", "StringEqualsIfExists"} {
			if v, ok := conditionValue(s.stmt["Condition"], op, "events:creatorAccount"); ok && v == "${aws:PrincipalAccount}" {
				creator = true
			}
		}
		if !creator {
			add("no events:creatorAccount = ${aws:PrincipalAccount} condition: an account could change other accounts' rules")
		}
		if contains(actions, "events:PutRule") {
			if _, ok := conditionValue(s.stmt["Condition"], "StringEquals", "events:source"); !ok {
				add("PutRule without a StringEquals events:source condition: rules could match any source")
			}
		}
		r := t.Resources[s.resource]
		if r.Condition == "" {
			add("granted to other accounts unconditionally; give the policy a Condition on a parameter that defaults to none")
		} else if on, err := t.ConditionValue(r.Condition, nil); err != nil {
			add(fmt.Sprintf("Condition %s: %v", r.Condition, err))
		} else if on {
			add(fmt.Sprintf("Condition %s is true with every parameter at its default: other accounts are let in unless the deployer opts out", r.Condition))
		}
	}
	sortProblems(ps)
	return ps
}
