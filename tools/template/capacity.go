package template

import (
	"fmt"
	"strconv"
)

// Knob is a template parameter that sets one capacity property on every resource of a
// kind (README "Scaling"; `orderflow plan` names them in what to set before a rate).
type Knob struct {
	Param string
	// Kind is a resource type, or "sqs-mapping" / "kinesis-mapping" for the event source
	// mappings on a queue / a Kinesis stream.
	Kind string
	Path []string
	// Off is a value of Param that leaves the property unset (-1: none).
	Off int
}

// Knobs are the capacity parameters of orderflow's template.
var Knobs = []Knob{
	{"OrderStreamShards", "AWS::Kinesis::Stream", []string{"ShardCount"}, -1},
	{"AnalyticsParallelization", "kinesis-mapping", []string{"ParallelizationFactor"}, -1},
	{"InventoryMaxConcurrency", "sqs-mapping", []string{"ScalingConfig", "MaximumConcurrency"}, -1},
	{"ApiThrottleRate", "AWS::Serverless::HttpApi", []string{"DefaultRouteSettings", "ThrottlingRateLimit"}, -1},
	{"ApiThrottleBurst", "AWS::Serverless::HttpApi", []string{"DefaultRouteSettings", "ThrottlingBurstLimit"}, -1},
	{"TableWarmWriteUnits", "AWS::DynamoDB::Table", []string{"WarmThroughput", "WriteUnitsPerSecond"}, 0},
	{"TableWarmReadUnits", "AWS::DynamoDB::Table", []string{"WarmThroughput", "ReadUnitsPerSecond"}, 0},
}

// SwitchKnob is a template parameter that sets one environment variable of one function
// to its value: a sale's behaviour switches (README "Scaling", pre-sale checklist).
type SwitchKnob struct {
	Param, Function, Env string
	// Values are the parameter's allowed values, each checked to reach the variable.
	Values []string
}

// SwitchKnobs are the sale switches of orderflow's template: the inventory strategy
// (pkg/dynamo) and the sold-out short-cut (pkg/handler/process).
var SwitchKnobs = []SwitchKnob{
	{"InventoryStrategy", "InventoryFunction", "INVENTORY_STRATEGY", []string{"transaction", "conditional"}},
	{"SoldOutShortCut", "ProcessFunction", "SOLD_OUT_SHORTCUT", []string{"true", "false"}},
}

// StreamModeKnob is the parameter that switches a Kinesis stream to on-demand.
const StreamModeKnob = "OrderStreamMode"

// CheckCapacityKnobs checks that each capacity knob the template declares reaches what it
// names, and nothing else: the local stack ignores most of them (moto has no warm
// throughput, no parallelization, no route throttles), so a knob wired to the wrong
// property or to no resource would only show on AWS, during the sale it was set for. With
// every declared knob set to its own value, it reports a resource of the knob's kind whose
// property is not that knob's value; a knob's "off" value (0 for warm throughput) that
// still sets the property; and, when the stream mode knob is declared, a stream whose
// StreamMode does not follow it or that keeps a ShardCount when on demand.
func CheckCapacityKnobs(t *Template) []Problem {
	var ps []Problem
	add := func(id, format string, args ...any) {
		ps = append(ps, Problem{"capacity-knobs", id, fmt.Sprintf(format, args...)})
	}
	on := map[string]string{}
	var declared []Knob
	for i, k := range Knobs {
		if _, ok := t.Parameters[k.Param]; ok {
			declared = append(declared, k)
			on[k.Param] = strconv.Itoa(10007 + i) // distinct, and valid for every knob
		}
	}
	_, hasMode := t.Parameters[StreamModeKnob]
	if hasMode {
		on[StreamModeKnob] = "PROVISIONED"
	}
	for _, k := range declared {
		ids := t.knobResources(k.Kind)
		if len(ids) == 0 {
			add("", "parameter %s sets %v of no resource (no %s)", k.Param, k.Path, k.Kind)
		}
		for _, id := range ids {
			got, ok, err := t.Property(id, k.Path, on)
			switch {
			case err != nil:
				add(id, "%v: %v", k.Path, err)
			case !ok || fmt.Sprint(got) != on[k.Param]:
				add(id, "%v is %v with %s=%s, not that parameter", k.Path, show(got, ok), k.Param, on[k.Param])
			}
			if k.Off < 0 {
				continue
			}
			off := copyParams(on)
			off[k.Param] = strconv.Itoa(k.Off)
			if got, ok, err := t.Property(id, k.Path, off); err == nil && ok {
				add(id, "%v is %v with %s=%d, which means not set", k.Path, got, k.Param, k.Off)
			}
		}
	}
	if hasMode {
		for _, id := range t.IDs("AWS::Kinesis::Stream") {
			for _, mode := range []string{"PROVISIONED", "ON_DEMAND"} {
				p := copyParams(on)
				p[StreamModeKnob] = mode
				if got, ok, err := t.Property(id, []string{"StreamModeDetails", "StreamMode"}, p); err != nil || !ok || got != mode {
					add(id, "StreamModeDetails.StreamMode is %v with %s=%s", show(got, ok), StreamModeKnob, mode)
				}
				if _, ok, _ := t.Property(id, []string{"ShardCount"}, p); mode == "ON_DEMAND" && ok {
					add(id, "ShardCount is set with %s=ON_DEMAND (an on-demand stream takes none)", StreamModeKnob)
				}
			}
		}
	}
	for _, k := range SwitchKnobs {
		if _, ok := t.Parameters[k.Param]; !ok {
			continue
		}
		if _, ok := t.Resources[k.Function]; !ok {
			add("", "parameter %s sets %s of %s, which the template lacks", k.Param, k.Env, k.Function)
			continue
		}
		for _, v := range k.Values {
			p := copyParams(on)
			p[k.Param] = v
			got, ok, err := t.Property(k.Function, []string{"Environment", "Variables", k.Env}, p)
			if err != nil || !ok || fmt.Sprint(got) != v {
				add(k.Function, "Environment.Variables.%s is %v with %s=%s, not that parameter", k.Env, show(got, ok), k.Param, v)
			}
		}
	}
	sortProblems(ps)
	return ps
}

func show(v any, ok bool) string {
	if !ok {
		return "not set"
	}
	return fmt.Sprint(v)
}

func copyParams(p map[string]string) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// knobResources returns the resources a knob of kind applies to.
func (t *Template) knobResources(kind string) []string {
	switch kind {
	case "sqs-mapping", "kinesis-mapping":
		var out []string
		for _, m := range t.mappings() {
			if m.kind+"-mapping" == kind {
				out = append(out, m.id)
			}
		}
		return out
	}
	return t.IDs(kind)
}

// Property resolves the property at path of resource id (or of a SAM function event
// "Function.Event") for params: its value and whether it is set.
func (t *Template) Property(id string, path []string, params map[string]string) (any, bool, error) {
	var v any
	if r, ok := t.Resources[id]; ok {
		v = r.Properties
	} else {
		for _, m := range t.mappings() {
			if m.id == id {
				v = m.props
			}
		}
	}
	for _, p := range path {
		m, err := t.Resolve(v, params)
		if err != nil {
			return nil, false, err
		}
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		if v, ok = mm[p]; !ok {
			return nil, false, nil
		}
	}
	got, err := t.Resolve(v, params)
	return got, err == nil, err
}
