package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The checks in this file read the state machine definitions (the ASL) next to the
// template: what a retrier names, which input paths a state reads, how long the longest
// path may take. The local stack runs the same definition in moto, which names some
// errors differently from AWS and never logs, so these defects pass every local test.

// machine is a state machine of the template with its definition.
type machine struct {
	id   string
	text string         // the definition as written, ${placeholders} unresolved
	asl  *asl           // parsed; nil when text is not JSON
	subs map[string]any // DefinitionSubstitutions
}

// asl is the part of an Amazon States Language document the checks read.
type asl struct {
	StartAt        string
	TimeoutSeconds *float64
	States         map[string]aslState
}

type aslState struct {
	Type             string
	Resource         string
	InputPath        any
	Parameters       any
	ResultPath       any
	TimeoutSeconds   *float64
	HeartbeatSeconds *float64
	Seconds          *float64
	Retry            []aslRetrier
	Catch            []struct {
		ErrorEquals []string
		Next        string
	}
	Choices []struct {
		Variable string
		Next     string
	}
	Default string
	Next    string
}

type aslRetrier struct {
	ErrorEquals     []string
	IntervalSeconds *float64
	MaxAttempts     *float64
	BackoffRate     *float64
	MaxDelaySeconds *float64
}

// attempts is the retrier's MaxAttempts (3 when absent, as in Step Functions).
func (r aslRetrier) attempts() int {
	if r.MaxAttempts == nil {
		return 3
	}
	return int(*r.MaxAttempts)
}

// maxWait is the longest the retrier waits in total before its retries: each wait at its
// full (unjittered) length, capped by MaxDelaySeconds.
func (r aslRetrier) maxWait() float64 {
	interval, rate := 1.0, 2.0
	if r.IntervalSeconds != nil {
		interval = *r.IntervalSeconds
	}
	if r.BackoffRate != nil {
		rate = *r.BackoffRate
	}
	total := 0.0
	for i := range r.attempts() {
		d := interval * math.Pow(rate, float64(i))
		if r.MaxDelaySeconds != nil && d > *r.MaxDelaySeconds {
			d = *r.MaxDelaySeconds
		}
		total += d
	}
	return total
}

// machines returns the template's state machines whose definition can be read: inline
// (Definition, a literal DefinitionString) or a DefinitionUri file relative to t.Dir; S3
// locations and definitions built with intrinsics are skipped. A file that cannot be read
// is reported as a Problem of the given check.
func (t *Template) machines(check string) ([]machine, []Problem) {
	var out []machine
	var ps []Problem
	for _, id := range t.IDs("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") {
		p := t.Resources[id].Properties
		m := machine{id: id}
		m.subs, _ = p["DefinitionSubstitutions"].(map[string]any)
		switch {
		case p["Definition"] != nil:
			b, err := json.Marshal(p["Definition"])
			if err != nil {
				ps = append(ps, Problem{check, id, "Definition: " + err.Error()})
				continue
			}
			m.text = string(b)
		case p["DefinitionString"] != nil:
			s, ok := p["DefinitionString"].(string)
			if !ok {
				continue // built with intrinsics: nothing to read
			}
			m.text = s
		default:
			uri, ok := p["DefinitionUri"].(string)
			if !ok || strings.HasPrefix(uri, "s3://") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(t.Dir, uri))
			if err != nil {
				ps = append(ps, Problem{check, id, "DefinitionUri: " + err.Error()})
				continue
			}
			m.text = string(data)
		}
		var a asl
		if json.Unmarshal([]byte(m.text), &a) == nil {
			m.asl = &a
		}
		out = append(out, m)
	}
	return out, ps
}

// eachState calls fn for every state of every readable definition, by machine and state
// name, and returns the problems of definitions that cannot be read.
func (t *Template) eachState(check string, fn func(m machine, name string, st aslState)) []Problem {
	ms, ps := t.machines(check)
	for _, m := range ms {
		if m.asl == nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(m.asl.States)) {
			fn(m, name, m.asl.States[name])
		}
	}
	return ps
}

// lambdaFunction returns the logical ID of the template's function a Task resource
// invokes: "${X}" whose substitution points at a function. ok is true, with id "", for a
// Lambda ARN or the lambda:invoke integration that names no function of the template.
func (m machine) lambdaFunction(t *Template, resource string) (id string, ok bool) {
	if names := SubNames(resource); len(names) == 1 && resource == "${"+names[0]+"}" {
		if fid, found := Target(m.subs[names[0]]); found && t.isFunction(fid) {
			return fid, true
		}
	}
	if strings.Contains(resource, ":states:::lambda:invoke") || strings.Contains(resource, ":lambda:") {
		return "", true
	}
	return "", false
}

// lambdaServiceErrors is what AWS recommends retrying on every Lambda task: the errors
// of a failed Invoke call (a 500 from Lambda, a throttle), reported as Lambda.<name>
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
var lambdaServiceErrors = []string{
	"Lambda.ClientExecutionTimeoutException",
	"Lambda.ServiceException",
	"Lambda.AWSLambdaException",
	"Lambda.SdkClientException",
	"Lambda.TooManyRequestsException",
}

// emulatorErrors are error names only an emulator reports for a Lambda task: moto
// 5.2.1 names every failed Invoke call "Exception" (the local stack's moto shim reports
// AWS's Lambda.<name> instead). In a production definition they match nothing.
var emulatorErrors = []string{"Exception"}

// CheckLambdaRetry reports Lambda tasks without a retrier (MaxAttempts > 0) for each of
// AWS's recommended Lambda service errors (States.ALL and States.TaskFailed cover them
// all), and retriers or catchers on Lambda tasks naming an emulator-only error.
func CheckLambdaRetry(t *Template) []Problem {
	var ps []Problem
	errs := t.eachState("lambda-retry", func(m machine, name string, st aslState) {
		if _, ok := m.lambdaFunction(t, st.Resource); st.Type != "Task" || !ok {
			return
		}
		covered := map[string]bool{}
		var named []string
		for _, r := range st.Retry {
			named = append(named, r.ErrorEquals...)
			if r.attempts() > 0 {
				for _, e := range r.ErrorEquals {
					covered[e] = true
				}
			}
		}
		for _, c := range st.Catch {
			named = append(named, c.ErrorEquals...)
		}
		if !covered["States.ALL"] && !covered["States.TaskFailed"] {
			for _, e := range lambdaServiceErrors {
				if !covered[e] {
					ps = append(ps, Problem{"lambda-retry", m.id, fmt.Sprintf("state %s: no retrier for %s, which AWS recommends retrying on every Lambda task", name, e)})
				}
			}
		}
		for _, e := range emulatorErrors {
			if slices.Contains(named, e) {
				ps = append(ps, Problem{"lambda-retry", m.id, fmt.Sprintf("state %s: %q is an emulator's name for a failed Invoke; Step Functions reports Lambda.<error>", name, e)})
			}
		}
	})
	ps = append(ps, errs...)
	sortProblems(ps)
	return ps
}

// CheckExecutionTimeout reports state machines whose timeouts do not add up:
//   - no execution TimeoutSeconds: an execution may wait up to a year and the
//     ExecutionsTimedOut metric (and any alarm on it) never counts one;
//   - a TimeoutSeconds under the longest the states may take (each task's timeout, or its
//     function's Timeout, times its attempts, plus the retriers' waits, along the longest
//     path): the execution would time out mid-saga on a path the definition allows,
//     leaving the order half-processed;
//   - States.HeartbeatTimeout named on a state without HeartbeatSeconds: nothing
//     heartbeats, the error cannot occur.
func CheckExecutionTimeout(t *Template) []Problem {
	var ps []Problem
	errs := t.eachState("execution-timeout", func(m machine, name string, st aslState) {
		if st.HeartbeatSeconds != nil {
			return
		}
		var named []string
		for _, r := range st.Retry {
			named = append(named, r.ErrorEquals...)
		}
		for _, c := range st.Catch {
			named = append(named, c.ErrorEquals...)
		}
		if slices.Contains(named, "States.HeartbeatTimeout") {
			ps = append(ps, Problem{"execution-timeout", m.id, fmt.Sprintf("state %s handles States.HeartbeatTimeout but has no HeartbeatSeconds: nothing heartbeats", name)})
		}
	})
	ps = append(ps, errs...)
	ms, _ := t.machines("execution-timeout") // unreadable files are reported above
	for _, m := range ms {
		if m.asl == nil {
			continue
		}
		if m.asl.TimeoutSeconds == nil {
			ps = append(ps, Problem{"execution-timeout", m.id, "the definition has no TimeoutSeconds: an execution may run for a year and ExecutionsTimedOut never counts one"})
			continue
		}
		if bound, ok := m.longestRun(t); ok && bound > *m.asl.TimeoutSeconds {
			ps = append(ps, Problem{"execution-timeout", m.id, fmt.Sprintf("TimeoutSeconds %.0f is under the %.0f s the longest path may take: the execution would time out mid-saga", *m.asl.TimeoutSeconds, bound)})
		}
	}
	sortProblems(ps)
	return ps
}

// longestRun returns the most seconds an execution may take along any path from StartAt,
// with every task at its timeout on every attempt and every retry wait at its cap. ok is
// false when a state is unbounded (a task without a timeout or a known function, a Wait
// without Seconds, Parallel or Map) or the states form a loop.
func (m machine) longestRun(t *Template) (float64, bool) {
	const visiting = -1
	memo := map[string]float64{}
	var walk func(name string) (float64, bool)
	walk = func(name string) (float64, bool) {
		if d, seen := memo[name]; seen {
			return d, d != visiting
		}
		st, exists := m.asl.States[name]
		if !exists {
			return 0, false
		}
		memo[name] = visiting
		own, ok := m.stateBound(t, st)
		if !ok {
			return 0, false
		}
		next := []string{st.Next, st.Default}
		for _, c := range st.Catch {
			next = append(next, c.Next)
		}
		for _, c := range st.Choices {
			next = append(next, c.Next)
		}
		longest := 0.0
		for _, n := range next {
			if n == "" {
				continue
			}
			d, ok := walk(n)
			if !ok {
				return 0, false
			}
			longest = max(longest, d)
		}
		memo[name] = own + longest
		return own + longest, true
	}
	return walk(m.asl.StartAt)
}

// stateBound is the most seconds one state may take, retries included.
func (m machine) stateBound(t *Template, st aslState) (float64, bool) {
	switch st.Type {
	case "Pass", "Choice", "Succeed", "Fail":
		return 0, true
	case "Wait":
		if st.Seconds == nil {
			return 0, false
		}
		return *st.Seconds, true
	case "Task":
	default:
		return 0, false
	}
	var attempt float64
	switch fid, isLambda := m.lambdaFunction(t, st.Resource); {
	case st.TimeoutSeconds != nil:
		attempt = *st.TimeoutSeconds
	case isLambda && fid != "":
		s, ok := t.functionTimeout(fid)
		if !ok {
			return 0, false
		}
		attempt = s
	default:
		return 0, false
	}
	attempts, waits := 1, 0.0
	for _, r := range st.Retry {
		attempts += r.attempts()
		waits += r.maxWait()
	}
	return float64(attempts)*attempt + waits, true
}

// functionTimeout returns a function's Timeout in seconds: its own, SAM's Globals, or
// Lambda's default of 3.
func (t *Template) functionTimeout(id string) (float64, bool) {
	v, set := t.Resources[id].Properties["Timeout"]
	if !set && t.Resources[id].Type == "AWS::Serverless::Function" {
		v, set = mapAt(t.Globals, "Function")["Timeout"]
	}
	if !set {
		return 3, true
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// CheckRuleInput reports EventBridge rules that start a state machine of the template
// with events the definition cannot read: every path under the event's detail that a
// state reads from the execution input (Parameters, InputPath, Choice variables; paths
// under a field a ResultPath writes are the states' own) must be required by the rule's
// EventPattern (a non-empty list of values or matchers, not exists: false). A path that
// is missing fails the execution with States.Runtime, which no Retry or Catch handles,
// and the order is left as it was.
func CheckRuleInput(t *Template) []Problem {
	ms, ps := t.machines("rule-input")
	reads := map[string][]string{} // machine ID -> "$.detail..." paths it reads from its input
	for _, m := range ms {
		if m.asl == nil {
			continue
		}
		written := map[string]bool{}
		for _, st := range m.asl.States {
			if rp, ok := st.ResultPath.(string); ok {
				written[firstField(rp)] = true
			}
		}
		seen := map[string]bool{}
		add := func(path string) {
			if !strings.HasPrefix(path, "$.") || written[firstField(path)] || seen[path] {
				return
			}
			if f := strings.Split(strings.TrimPrefix(path, "$."), "."); len(f) < 2 || f[0] != "detail" {
				// the envelope (source, id, detail-type, ...) and detail itself are in every event
				return
			}
			seen[path] = true
			reads[m.id] = append(reads[m.id], path)
		}
		for _, st := range m.asl.States {
			if s, ok := st.InputPath.(string); ok {
				add(s)
			}
			for _, c := range st.Choices {
				add(c.Variable)
			}
			walkStrings(st.Parameters, []string{"Parameters"}, func([]string) bool { return false }, func(path []string, s string) {
				if strings.HasSuffix(path[len(path)-1], ".$") {
					add(s)
				}
			})
		}
		slices.Sort(reads[m.id])
	}
	for _, rid := range t.IDs("AWS::Events::Rule") {
		p := t.Resources[rid].Properties
		pattern, _ := p["EventPattern"].(map[string]any)
		for _, tv := range list(p["Targets"]) {
			tg, _ := tv.(map[string]any)
			mid, ok := Target(tg["Arn"])
			if !ok || reads[mid] == nil || tg["Input"] != nil || tg["InputPath"] != nil || tg["InputTransformer"] != nil {
				continue
			}
			for _, path := range reads[mid] {
				if !patternRequires(pattern, strings.Split(strings.TrimPrefix(path, "$."), ".")) {
					ps = append(ps, Problem{"rule-input", rid, fmt.Sprintf("starts %s, which reads %s, but the EventPattern does not require it (e.g. [{\"exists\": true}]): an event without it fails the execution with States.Runtime, which nothing catches", mid, path)})
				}
			}
		}
	}
	sortProblems(ps)
	return ps
}

// firstField returns "order" for "$.order.lines" ("" for "$").
func firstField(path string) string {
	f, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(path, "$"), "."), ".")
	return f
}

// patternRequires reports whether an event pattern only matches events that have the field at
// path: the leaf is a non-empty list none of whose matchers is exists: false.
func patternRequires(pattern map[string]any, path []string) bool {
	var node any = pattern
	for _, f := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		node = m[f]
	}
	leaf, ok := node.([]any)
	if !ok || len(leaf) == 0 {
		return false
	}
	for _, v := range leaf {
		if m, ok := v.(map[string]any); ok && m["exists"] == false {
			return false
		}
	}
	return true
}

// CheckStateMachineLogs reports state machines that hand out task tokens ($$.Task.Token)
// and log execution data: with IncludeExecutionData, every log level that logs a task's
// scheduled event (ALL) writes its parameters, the token included, to CloudWatch Logs,
// where anyone who reads the log group can complete the task. The execution history
// keeps the data for debugging.
func CheckStateMachineLogs(t *Template) []Problem {
	ms, ps := t.machines("state-machine-logs")
	for _, m := range ms {
		if !strings.Contains(m.text, "$$.Task.Token") {
			continue
		}
		p := t.Resources[m.id].Properties
		cfg := mapAt(p, "Logging") // SAM
		if cfg == nil {
			cfg = mapAt(p, "LoggingConfiguration")
		}
		if cfg == nil || cfg["Level"] == "OFF" || !truthy(cfg["IncludeExecutionData"]) {
			continue
		}
		ps = append(ps, Problem{"state-machine-logs", m.id, "the definition passes $$.Task.Token and the logs include execution data: task tokens reach CloudWatch Logs (set IncludeExecutionData: false)"})
	}
	sortProblems(ps)
	return ps
}
