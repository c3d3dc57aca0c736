// Package chaos injects faults into the local stack, off unless a Spec asks for them: the
// edge answers a chosen share of AWS calls with throttling or server errors (in the body
// format of each service's protocol, so the SDKs classify and retry them as they would on
// AWS), adds latency, kills a function process mid-invoke (at random, or deterministically
// right after a given AWS call: CrashAt), and duplicates SQS, Kinesis, EventBridge and
// DynamoDB stream deliveries; it also simulates AWS limits moto lacks (Limits). Every
// injected fault is counted (Stats) and listed (Decisions), and every fault decision is a
// function of the seed and of the call, payload or event decided on, not of arrival order,
// so a run can be replayed (see Injector); the limits depend on timing.
package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Spec says which faults to inject. The zero value injects none. It is read from JSON
// (`orderflow local up --faults spec.json`), for example:
//
//	{"seed": 1,
//	 "errors": [{"service": "dynamodb", "rate": 0.1},
//	            {"service": "events", "operation": "PutEvents", "rate": 0.1, "kind": "throttle"}],
//	 "crash": {"rate": 0.02, "maxCalls": 4},
//	 "duplicate": {"sqs": 0.05, "kinesis": 0.05, "eventbridge": 0.05},
//	 "latency": {"rate": 0.1, "max": "20ms"},
//	 "limits": {"scale": 100, "itemWrites": true, "transactionConflicts": true, "stepFunctions": true}}
type Spec struct {
	// Seed makes the fault decisions repeatable: each is a function of the seed and of
	// what it decides on, not of the order calls arrive in (see Injector; 0: seed 1).
	Seed uint64 `json:"seed,omitempty"`
	// Errors are the AWS error rules; the first rule that matches a call decides.
	Errors []ErrorRule `json:"errors,omitempty"`
	// Crash kills function processes mid-invoke, at random.
	Crash Crash `json:"crash,omitempty"`
	// CrashAt are deterministic crash points: each kills a function's process right
	// after a given AWS call of an invoke.
	CrashAt []CrashPoint `json:"crashAt,omitempty"`
	// Duplicate is the probability that a delivery is made again, per source (a copy
	// too: it is a delivery).
	Duplicate Duplicate `json:"duplicate,omitempty"`
	// Latency delays AWS calls through the edge.
	Latency Latency `json:"latency,omitempty"`
	// Limits simulates AWS limits moto lacks (per-item write capacity, transaction
	// conflicts, Step Functions token buckets), scaled down; see Limits.
	Limits Limits `json:"limits,omitempty"`
}

// ErrorRule answers a share of matching AWS calls with an error instead of forwarding them.
type ErrorRule struct {
	// Service is the SigV4 signing name (dynamodb, sqs, sns, events, kinesis, states,
	// s3, lambda); "" or "*" matches every service.
	Service string `json:"service,omitempty"`
	// Operation is the API operation (PutItem, SendMessage, ...); "" matches all.
	Operation string `json:"operation,omitempty"`
	// Resource, when set, must occur in the request's body or path (a table or queue
	// name): it narrows a rule to one resource.
	Resource string `json:"resource,omitempty"`
	// Rate is the probability (0-1) that a matching call fails.
	Rate float64 `json:"rate"`
	// Kind is "throttle" (HTTP 400 ThrottlingException or the service's equivalent),
	// "5xx" (500 InternalFailure or 503 ServiceUnavailable), or "" for either, half each.
	Kind string `json:"kind,omitempty"`
}

// Crash kills the process running an invoke with probability Rate, after n of the
// invoke's AWS calls have taken effect, n uniform in [0, MaxCalls]: the process is killed
// as it makes its next call, which is not served, or, when the invoke makes no more than
// n calls, as it answers, and its answer is lost. The moment is a count of calls, not a
// time, so the same seed kills at the same step in every run.
type Crash struct {
	Rate float64 `json:"rate,omitempty"`
	// Functions limits crashes to these function names (substring match); empty: all.
	Functions []string `json:"functions,omitempty"`
	// MaxCalls is the most calls an invoke makes before the kill (default 4: about as
	// many as an invoke of the pipeline's functions makes).
	MaxCalls int `json:"maxCalls,omitempty"`
}

// CrashPoint kills the process running an invoke of Function right after its AfterCall-th
// AWS call of that invoke (1-based; with Operation, its AfterCall-th call of that
// operation, default the first): the call reaches the emulator and takes effect, and the
// process is killed before it sees the answer, so its invoke ends as a crash
// (Runtime.ExitError) and whoever invoked it retries as on AWS. The call is never answered
// with an injected error. It needs the function processes' own access keys
// (lambdahost.Options.ProcessKeys) and the injector's Processes; without them no crash
// point fires. Matches are counted per rule from the moment the spec is Set: the first
// Skip of them pass, then at most Times (0: every one) kill.
//
// For example {"function": "ingest", "afterCall": 1, "times": 1} kills the next ingest
// invoke right after its first call (its one write), and {"function": "process",
// "operation": "PutItem", "skip": 1, "times": 1} kills the process invoke that makes the
// second PutItem of process from now on, right after that write.
type CrashPoint struct {
	// Function is the function name, or a part of it ("ingest" matches
	// "orderflow-dev-ingest").
	Function  string `json:"function"`
	AfterCall int    `json:"afterCall,omitempty"`
	Operation string `json:"operation,omitempty"`
	Skip      int    `json:"skip,omitempty"`
	Times     int    `json:"times,omitempty"`
}

// String names the crash point in reports: "ingest after call 1", "process after
// PutItem 1 (skip 1)".
func (p CrashPoint) String() string {
	s := fmt.Sprintf("%s after call %d", p.Function, max(p.AfterCall, 1))
	if p.Operation != "" {
		s = fmt.Sprintf("%s after %s %d", p.Function, p.Operation, max(p.AfterCall, 1))
	}
	if p.Skip > 0 {
		s += fmt.Sprintf(" (skip %d)", p.Skip)
	}
	return s
}

// Duplicate holds the probability of one more delivery per source. DynamoDB is the
// orders table's stream (a batch delivered to the publisher again publishes its events
// again, under the same eventIds).
type Duplicate struct {
	SQS         float64 `json:"sqs,omitempty"`
	Kinesis     float64 `json:"kinesis,omitempty"`
	EventBridge float64 `json:"eventbridge,omitempty"`
	DynamoDB    float64 `json:"dynamodb,omitempty"`
}

// Latency delays a share of the AWS calls through the edge by a uniform [Min, Max].
type Latency struct {
	Rate float64  `json:"rate,omitempty"`
	Min  Duration `json:"min,omitempty"`
	Max  Duration `json:"max,omitempty"`
}

// Duration is a time.Duration written as "40ms" in JSON (a number is milliseconds).
type Duration time.Duration

// UnmarshalJSON reads "40ms" or 40 (milliseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want \"40ms\" or milliseconds, got %s", b)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Enabled reports whether s injects anything.
func (s Spec) Enabled() bool {
	for _, r := range s.Errors {
		if r.Rate > 0 {
			return true
		}
	}
	return s.Crash.Rate > 0 || len(s.CrashAt) > 0 || s.Duplicate.SQS > 0 || s.Duplicate.Kinesis > 0 ||
		s.Duplicate.EventBridge > 0 || s.Duplicate.DynamoDB > 0 || s.Latency.Rate > 0 || s.Limits.Enabled()
}

// Validate returns an error naming the first invalid setting.
func (s Spec) Validate() error {
	var errs []error
	rate := func(name string, r float64) {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s: rate %v is not within 0..1", name, r))
		}
	}
	for i, r := range s.Errors {
		rate(fmt.Sprintf("errors[%d]", i), r.Rate)
		switch r.Kind {
		case "", "throttle", "5xx":
		default:
			errs = append(errs, fmt.Errorf("errors[%d]: kind %q is not throttle or 5xx", i, r.Kind))
		}
	}
	rate("crash", s.Crash.Rate)
	if s.Crash.MaxCalls < 0 {
		errs = append(errs, errors.New("crash: maxCalls must not be negative"))
	}
	for i, p := range s.CrashAt {
		switch {
		case p.Function == "":
			errs = append(errs, fmt.Errorf("crashAt[%d]: no function", i))
		case p.AfterCall < 0 || p.Skip < 0 || p.Times < 0:
			errs = append(errs, fmt.Errorf("crashAt[%d]: afterCall, skip and times must not be negative", i))
		case p.AfterCall == 0 && p.Operation == "":
			errs = append(errs, fmt.Errorf("crashAt[%d]: afterCall or operation is required", i))
		}
	}
	rate("duplicate.sqs", s.Duplicate.SQS)
	rate("duplicate.kinesis", s.Duplicate.Kinesis)
	rate("duplicate.eventbridge", s.Duplicate.EventBridge)
	rate("duplicate.dynamodb", s.Duplicate.DynamoDB)
	rate("latency", s.Latency.Rate)
	if s.Latency.Max < s.Latency.Min {
		errs = append(errs, errors.New("latency: max is below min"))
	}
	if s.Limits.Scale < 0 {
		errs = append(errs, errors.New("limits: scale must not be negative"))
	}
	return errors.Join(errs...)
}

// Load reads and validates a Spec from a JSON file. Unknown fields are an error.
func Load(path string) (Spec, error) {
	var s Spec
	f, err := os.Open(path)
	if err != nil {
		return s, fmt.Errorf("faults: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("faults %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("faults %s: %w", path, err)
	}
	return s, nil
}

// Standard is the chaos run's mix: 10% of the functions' AWS calls fail transiently
// (throttling or 5xx), 2% of invokes crash, 5% of deliveries are duplicated, and 10% of
// calls are delayed up to 20 ms.
func Standard(seed uint64) Spec {
	services := []string{"dynamodb", "events", "sns", "s3", "states", "sqs", "kinesis"}
	s := Spec{Seed: seed, Crash: Crash{Rate: 0.02},
		Duplicate: Duplicate{SQS: 0.05, Kinesis: 0.05, EventBridge: 0.05, DynamoDB: 0.05},
		Latency:   Latency{Rate: 0.1, Max: Duration(20 * time.Millisecond)}}
	for _, svc := range services {
		s.Errors = append(s.Errors, ErrorRule{Service: svc, Rate: 0.1})
	}
	return s
}
