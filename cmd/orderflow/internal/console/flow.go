package console

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/tools/template"
)

// Node kinds of the flow picture.
const (
	KindAPI          = "api"
	KindFunction     = "function"
	KindTable        = "table"
	KindBus          = "bus"
	KindRule         = "rule"
	KindStateMachine = "statemachine"
	KindQueue        = "queue"
	KindDLQ          = "dlq"
	KindStream       = "stream"
	KindTopic        = "topic"
	KindLake         = "lake"
)

// kinds maps the resource types drawn to their kind; other resources (IAM, logs,
// permissions, nested stacks not used as data) are not part of the flow.
var kinds = map[string]string{
	"AWS::Serverless::HttpApi":         KindAPI,
	"AWS::ApiGatewayV2::Api":           KindAPI,
	"AWS::Serverless::Function":        KindFunction,
	"AWS::Lambda::Function":            KindFunction,
	"AWS::DynamoDB::Table":             KindTable,
	"AWS::Events::EventBus":            KindBus,
	"AWS::Events::Rule":                KindRule,
	"AWS::Serverless::StateMachine":    KindStateMachine,
	"AWS::StepFunctions::StateMachine": KindStateMachine,
	"AWS::SQS::Queue":                  KindQueue,
	"AWS::Kinesis::Stream":             KindStream,
	"AWS::SNS::Topic":                  KindTopic,
	"AWS::S3::Bucket":                  KindLake,
	"AWS::Serverless::Application":     KindLake, // drawn only when a function writes to it (the data lake)
	"AWS::CloudFormation::Stack":       KindLake,
}

// Node is one resource of the flow picture.
type Node struct {
	ID   string // logical ID
	Kind string
	// Label is the resource's short name; Detail one line under it (the rule's pattern,
	// the state machine's happy path).
	Label, Detail string
	// Col and Row place the node; X, Y, W, H are its box in the SVG.
	Col, Row   int
	X, Y, W, H float64
}

// Edge is one arrow: data or events flow From -> To. Failure edges lead to a DLQ or an
// on-failure destination; Back edges point to an earlier column (a write back to a table
// or the bus) and are drawn apart.
type Edge struct {
	From, To string
	Label    string
	Failure  bool
	Back     bool
}

// Flow is the picture: nodes placed in columns and the edges between them.
type Flow struct {
	Nodes []*Node
	Edges []Edge
	W, H  float64
	// Tasks are the state machine's task states and what each calls, by state name.
	Tasks map[string]string

	byID    map[string]*Node
	pending map[string]string
}

// Node returns the node of a logical ID, nil if it is not drawn.
func (f *Flow) Node(id string) *Node { return f.byID[id] }

// NodesOf returns the nodes of a kind, in column order.
func (f *Flow) NodesOf(kind string) []*Node {
	var out []*Node
	for _, n := range f.Nodes {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// BuildFlow draws the flow of t: the HTTP API's routes to functions; what each function's
// environment names (tables, the bus, the topic, queues, the data lake); the bus to its
// rules and each rule to its targets; event source mappings from queues, streams and
// table streams to functions; the state machine to what its tasks call (from its
// definition and DefinitionSubstitutions); and the failure paths (rule target DLQs,
// on-failure destinations, redrive policies) to the DLQs. A resource on no edge is left
// out. It returns an error only when the state machine's definition cannot be read.
func BuildFlow(t *template.Template) (*Flow, error) {
	f := &Flow{byID: map[string]*Node{}, Tasks: map[string]string{}}
	seen := map[[2]string]int{}
	add := func(from, to, label string, failure bool) {
		if from == "" || to == "" || from == to || kinds[t.Resources[from].Type] == "" || kinds[t.Resources[to].Type] == "" {
			return
		}
		k := [2]string{from, to}
		if i, ok := seen[k]; ok {
			if label != "" && !strings.Contains(f.Edges[i].Label, label) {
				f.Edges[i].Label = joinLabel(f.Edges[i].Label, label)
			}
			return
		}
		seen[k] = len(f.Edges)
		f.Edges = append(f.Edges, Edge{From: from, To: to, Label: label, Failure: failure})
	}
	target := func(v any) string {
		id, _ := template.Target(v)
		return id
	}
	for _, r := range t.HTTPRoutes() {
		api := r.API
		if api == "" {
			continue
		}
		add(api, r.Function, "", false)
	}
	for _, id := range t.IDs("AWS::Serverless::Function", "AWS::Lambda::Function") {
		p := t.Resources[id].Properties
		env, _ := dig(p, "Environment", "Variables").(map[string]any)
		for _, name := range sortedKeys(env) {
			add(id, target(env[name]), "", false)
		}
		add(id, target(dig(p, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")), "on failure", true)
	}
	for _, id := range t.IDs("AWS::Lambda::EventInvokeConfig") {
		p := t.Resources[id].Properties
		add(target(p["FunctionName"]), target(dig(p, "DestinationConfig", "OnFailure", "Destination")), "on failure", true)
	}
	for _, id := range t.IDs("AWS::Events::Rule") {
		p := t.Resources[id].Properties
		add(target(p["EventBusName"]), id, "", false)
		targets, _ := p["Targets"].([]any)
		for _, tv := range targets {
			tm, _ := tv.(map[string]any)
			add(id, target(tm["Arn"]), "", false)
			add(id, target(dig(tm, "DeadLetterConfig", "Arn")), "undeliverable", true)
		}
	}
	for _, id := range t.IDs("AWS::Lambda::EventSourceMapping") {
		p := t.Resources[id].Properties
		fn := target(p["FunctionName"])
		add(target(p["EventSourceArn"]), fn, "", false)
		add(fn, target(dig(p, "DestinationConfig", "OnFailure", "Destination")), "on failure", true)
	}
	for _, id := range t.IDs("AWS::SQS::Queue") {
		add(id, target(dig(t.Resources[id].Properties, "RedrivePolicy", "deadLetterTargetArn")), "after retries", true)
	}
	for _, id := range t.IDs("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") {
		calls, path, err := stateMachineCalls(t, id)
		if err != nil {
			return nil, err
		}
		for _, state := range sortedKeys(calls) {
			f.Tasks[state] = calls[state]
			add(id, calls[state], state, false)
		}
		if len(path) > 0 {
			f.detail(id, strings.Join(path, " → "))
		}
	}
	// Nodes: everything on an edge; a queue that only receives failures is a DLQ.
	failureOnly := map[string]bool{}
	for _, e := range f.Edges {
		if e.Failure {
			failureOnly[e.To] = true
		}
	}
	for _, e := range f.Edges {
		if !e.Failure {
			failureOnly[e.To] = false
		}
	}
	for _, e := range f.Edges {
		for _, id := range []string{e.From, e.To} {
			if f.byID[id] != nil {
				continue
			}
			n := &Node{ID: id, Kind: kinds[t.Resources[id].Type], Label: label(id)}
			if n.Kind == KindQueue && failureOnly[id] {
				n.Kind = KindDLQ
			}
			f.byID[id] = n
			f.Nodes = append(f.Nodes, n)
		}
	}
	for _, n := range f.Nodes {
		if n.Kind == KindRule {
			n.Detail = rulePattern(t.Resources[n.ID].Properties["EventPattern"])
		}
		if d, ok := f.pending[n.ID]; ok {
			n.Detail = d
		}
	}
	f.layout()
	return f, nil
}

func joinLabel(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// detail remembers a node's detail line until the node exists.
func (f *Flow) detail(id, d string) {
	if f.pending == nil {
		f.pending = map[string]string{}
	}
	f.pending[id] = d
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

var wordBoundary = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// label shortens a logical ID for the picture: "InventoryCommandQueue" -> "inventory
// command queue", without the words the node's shape already says.
func label(id string) string {
	s := wordBoundary.ReplaceAllString(id, "$1 $2")
	for _, suffix := range []string{" Function", " State Machine", " Table", " Rule"} {
		s = strings.TrimSuffix(s, suffix)
	}
	return strings.ToLower(s)
}

// rulePattern renders a rule's event pattern on one line: its detail-types, or "every
// event" when it matches on source alone.
func rulePattern(v any) string {
	dts, _ := dig(v, "detail-type").([]any)
	if len(dts) == 0 {
		return "every order event"
	}
	parts := make([]string, 0, len(dts))
	for _, d := range dts {
		if s, ok := d.(string); ok {
			parts = append(parts, strings.TrimPrefix(s, "Order "))
		}
	}
	return strings.Join(parts, " | ")
}

// ruleDetailTypes returns the detail-types a rule's pattern matches, nil for all.
func ruleDetailTypes(t *template.Template, id string) []string {
	dts, _ := dig(t.Resources[id].Properties["EventPattern"], "detail-type").([]any)
	var out []string
	for _, d := range dts {
		if s, ok := d.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// stateMachineCalls reads the state machine's definition and returns, for each Task
// state, the resource its DefinitionSubstitutions point at (a function, a queue), and the
// happy path: the states from StartAt along Next.
func stateMachineCalls(t *template.Template, id string) (map[string]string, []string, error) {
	p := t.Resources[id].Properties
	var def map[string]any
	switch {
	case p["Definition"] != nil:
		def, _ = p["Definition"].(map[string]any)
	case p["DefinitionUri"] != nil:
		uri, ok := p["DefinitionUri"].(string)
		if !ok {
			return nil, nil, nil // an S3 location: nothing to read locally
		}
		b, err := os.ReadFile(filepath.Join(t.Dir, uri))
		if err != nil {
			return nil, nil, fmt.Errorf("state machine %s: %w", id, err)
		}
		if err := json.Unmarshal(b, &def); err != nil {
			return nil, nil, fmt.Errorf("state machine %s: %s: %w", id, uri, err)
		}
	}
	subs, _ := p["DefinitionSubstitutions"].(map[string]any)
	states, _ := def["States"].(map[string]any)
	calls := map[string]string{}
	for name, sv := range states {
		s, _ := sv.(map[string]any)
		if s["Type"] != "Task" {
			continue
		}
		b, _ := json.Marshal(map[string]any{"r": s["Resource"], "p": s["Parameters"], "a": s["Arguments"]})
		for _, m := range subRef.FindAllStringSubmatch(string(b), -1) {
			if tid, ok := template.Target(subs[m[1]]); ok {
				calls[name] = tid
				break
			}
		}
	}
	var path []string
	next, _ := def["StartAt"].(string)
	for next != "" && len(path) < len(states) {
		path = append(path, next)
		s, _ := states[next].(map[string]any)
		next, _ = s["Next"].(string)
	}
	return calls, path, nil
}
