package template

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Problem is one rule a template breaks.
type Problem struct {
	Check    string // the check's name, e.g. "encryption"
	Resource string // the logical ID at fault ("" for the template as a whole)
	Message  string
}

// String formats p as "check: Resource: message".
func (p Problem) String() string {
	if p.Resource == "" {
		return p.Check + ": " + p.Message
	}
	return p.Check + ": " + p.Resource + ": " + p.Message
}

// Check is one structural rule over a template; it returns what breaks the rule, sorted.
type Check func(*Template) []Problem

// Checks returns every check, with the build-target check reading the Makefile and mk/*.mk
// under makeDir (the repository root). Checks whose resources are absent from a template
// report nothing, so the same list applies to template.yaml and to the nested stacks.
func Checks(makeDir string) map[string]Check {
	return map[string]Check{
		"build-targets":            BuildTargets(makeDir),
		"batch-failures":           CheckBatchFailures,
		"queue-dlq":                CheckQueueDLQ,
		"failure-destinations":     CheckFailureDestinations,
		"stream-mappings":          CheckStreamMappings,
		"iam":                      CheckIAM,
		"encryption":               CheckEncryption,
		"definition-substitutions": CheckDefinitionSubstitutions,
		"bus-policy":               CheckBusPolicy,
		"jwt-auth":                 CheckJWTAuth,
		"partition":                CheckPartition,
		"lifecycle":                CheckQueryableLifecycle,
		"cost-alarm":               CheckCostAlarm,
		"default-route":            CheckDefaultRoute,
		"stream-failures":          CheckStreamFailureRecords,
		"lambda-retry":             CheckLambdaRetry,
		"execution-timeout":        CheckExecutionTimeout,
		"rule-input":               CheckRuleInput,
		"state-machine-logs":       CheckStateMachineLogs,
		"capacity-knobs":           CheckCapacityKnobs,
	}
}

// Run applies checks to t and returns all problems, sorted.
func Run(t *Template, checks map[string]Check) []Problem {
	var ps []Problem
	for _, c := range checks {
		ps = append(ps, c(t)...)
	}
	sortProblems(ps)
	return ps
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
}

var makeTarget = regexp.MustCompile(`^(build-[A-Za-z0-9]+)\s*:`)

// MakeTargets returns the build-<LogicalId> targets defined in dir/Makefile and dir/mk/*.mk.
// A missing Makefile is not an error (it yields no targets); an unreadable one is.
func MakeTargets(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "mk", "*.mk"))
	if err != nil {
		return nil, err
	}
	files = append([]string{filepath.Join(dir, "Makefile")}, files...)
	targets := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			if m := makeTarget.FindStringSubmatch(sc.Text()); m != nil {
				targets[m[1]] = true
			}
		}
	}
	return targets, nil
}

// BuildTargets returns a check that every function built with `BuildMethod: makefile` has a
// build-<LogicalId> target in dir's Makefile or mk/*.mk. The files are read when the check
// runs, not when it is created.
func BuildTargets(dir string) Check {
	return func(t *Template) []Problem {
		var ps []Problem
		var targets map[string]bool
		for _, id := range t.IDs("AWS::Serverless::Function") {
			if t.Resources[id].Metadata["BuildMethod"] != "makefile" {
				continue
			}
			if targets == nil {
				var err error
				if targets, err = MakeTargets(dir); err != nil {
					return []Problem{{Check: "build-targets", Message: err.Error()}}
				}
			}
			if !targets["build-"+id] {
				ps = append(ps, Problem{"build-targets", id, fmt.Sprintf("BuildMethod makefile but no build-%s target in %s/Makefile or mk/*.mk", id, dir)})
			}
		}
		return ps
	}
}

// mapping is an event source mapping, raw or from a SAM function event.
type mapping struct {
	id     string // resource (or function.event) name for messages
	source string // logical ID of the queue or stream
	kind   string // "sqs", "kinesis", "dynamodb" or "" when unknown
	props  map[string]any
}

// mappings returns the template's event source mappings with the kind of their source.
func (t *Template) mappings() []mapping {
	var out []mapping
	kindOf := func(v any) (string, string) {
		id, ok := Target(v)
		if !ok {
			return "", ""
		}
		switch t.Resources[id].Type {
		case "AWS::SQS::Queue":
			return id, "sqs"
		case "AWS::Kinesis::Stream":
			return id, "kinesis"
		case "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable":
			return id, "dynamodb"
		}
		return id, ""
	}
	for _, id := range t.IDs("AWS::Lambda::EventSourceMapping") {
		p := t.Resources[id].Properties
		src, kind := kindOf(p["EventSourceArn"])
		out = append(out, mapping{id, src, kind, p})
	}
	for _, fid := range t.IDs("AWS::Serverless::Function") {
		events, _ := t.Resources[fid].Properties["Events"].(map[string]any)
		names := make([]string, 0, len(events))
		for n := range events {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e, _ := events[n].(map[string]any)
			p, _ := e["Properties"].(map[string]any)
			var src, kind string
			switch e["Type"] {
			case "SQS":
				src, _ = kindOf(p["Queue"])
				kind = "sqs"
			case "Kinesis":
				src, _ = kindOf(p["Stream"])
				kind = "kinesis"
			case "DynamoDB":
				src, _ = kindOf(p["Stream"])
				kind = "dynamodb"
			default:
				continue
			}
			out = append(out, mapping{fid + "." + n, src, kind, p})
		}
	}
	return out
}

// CheckBatchFailures reports SQS, Kinesis and DynamoDB-stream mappings without
// ReportBatchItemFailures: without it one bad record fails, and retries, the whole batch.
func CheckBatchFailures(t *Template) []Problem {
	var ps []Problem
	for _, m := range t.mappings() {
		if m.kind == "" {
			continue
		}
		if !contains(allStrings(m.props["FunctionResponseTypes"]), "ReportBatchItemFailures") {
			ps = append(ps, Problem{"batch-failures", m.id, fmt.Sprintf("%s mapping on %s lacks FunctionResponseTypes: [ReportBatchItemFailures]", m.kind, m.source)})
		}
	}
	return ps
}

// CheckQueueDLQ reports queues consumed by a Lambda mapping that have no RedrivePolicy:
// a message that always fails would be retried until it expires, then lost.
func CheckQueueDLQ(t *Template) []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for _, m := range t.mappings() {
		if m.kind != "sqs" || seen[m.source] {
			continue
		}
		seen[m.source] = true
		rp, ok := t.Resources[m.source].Properties["RedrivePolicy"].(map[string]any)
		if !ok || rp["deadLetterTargetArn"] == nil {
			ps = append(ps, Problem{"queue-dlq", m.source, "queue consumed by " + m.id + " has no RedrivePolicy with a deadLetterTargetArn"})
		}
	}
	return ps
}

// CheckFailureDestinations reports asynchronous deliveries that can drop an event: rule
// targets without DeadLetterConfig or RetryPolicy, EventInvokeConfigs without an OnFailure
// destination, Lambda functions targeted by a rule (invoked asynchronously) without one, and
// stream mappings without an OnFailure destination.
func CheckFailureDestinations(t *Template) []Problem {
	var ps []Problem
	asyncTargets := map[string]string{} // function ID -> rule
	for _, rid := range t.IDs("AWS::Events::Rule") {
		targets, _ := t.Resources[rid].Properties["Targets"].([]any)
		for i, tv := range targets {
			tg, _ := tv.(map[string]any)
			name := fmt.Sprintf("%s.Targets[%d]", rid, i)
			if s, ok := tg["Id"].(string); ok {
				name = rid + "." + s
			}
			if dlc, _ := tg["DeadLetterConfig"].(map[string]any); dlc["Arn"] == nil {
				ps = append(ps, Problem{"failure-destinations", name, "rule target has no DeadLetterConfig.Arn"})
			}
			if tg["RetryPolicy"] == nil {
				ps = append(ps, Problem{"failure-destinations", name, "rule target has no RetryPolicy"})
			}
			if fid, ok := Target(tg["Arn"]); ok && t.isFunction(fid) {
				asyncTargets[fid] = rid
			}
		}
	}
	onFailure := func(v any) bool {
		cfg, _ := v.(map[string]any)
		dc, _ := cfg["DestinationConfig"].(map[string]any)
		of, _ := dc["OnFailure"].(map[string]any)
		return of["Destination"] != nil
	}
	hasOnFailure := map[string]bool{}
	for _, fid := range t.IDs("AWS::Serverless::Function") {
		p := t.Resources[fid].Properties
		if eic, ok := p["EventInvokeConfig"]; ok {
			if onFailure(eic) {
				hasOnFailure[fid] = true
			} else {
				ps = append(ps, Problem{"failure-destinations", fid, "EventInvokeConfig has no DestinationConfig.OnFailure.Destination"})
			}
		}
		events, _ := p["Events"].(map[string]any)
		for n, ev := range events {
			e, _ := ev.(map[string]any)
			switch e["Type"] {
			case "EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2":
				asyncTargets[fid] = fid + "." + n
				ep, _ := e["Properties"].(map[string]any)
				if dlc, _ := ep["DeadLetterConfig"].(map[string]any); dlc == nil {
					ps = append(ps, Problem{"failure-destinations", fid + "." + n, "rule event has no DeadLetterConfig"})
				}
			}
		}
	}
	for _, id := range t.IDs("AWS::Lambda::EventInvokeConfig") {
		p := t.Resources[id].Properties
		if onFailure(p) {
			if fid, ok := Target(p["FunctionName"]); ok {
				hasOnFailure[fid] = true
			}
		} else {
			ps = append(ps, Problem{"failure-destinations", id, "EventInvokeConfig has no DestinationConfig.OnFailure.Destination"})
		}
	}
	for fid, rule := range asyncTargets {
		if !hasOnFailure[fid] {
			ps = append(ps, Problem{"failure-destinations", fid, "invoked asynchronously by " + rule + " but has no EventInvokeConfig OnFailure destination"})
		}
	}
	for _, m := range t.mappings() {
		if (m.kind == "kinesis" || m.kind == "dynamodb") && !onFailure(m.props) {
			ps = append(ps, Problem{"failure-destinations", m.id, m.kind + " mapping has no DestinationConfig.OnFailure.Destination"})
		}
	}
	sortProblems(ps)
	return ps
}

// streamReads are the actions an event source mapping needs on its stream (it reads with
// the function's role), by kind.
var streamReads = map[string][]string{
	"kinesis":  {"kinesis:DescribeStream", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"},
	"dynamodb": {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
}

// destinationWrites are the actions Lambda needs, with the function's role, to deliver a
// discarded batch's record to an on-failure destination, by the destination's type.
var destinationWrites = map[string][]string{
	"AWS::SQS::Queue":      {"sqs:SendMessage"},
	"AWS::SNS::Topic":      {"sns:Publish"},
	"AWS::S3::Bucket":      {"s3:PutObject", "s3:ListBucket"},
	"AWS::Kinesis::Stream": nil,
}

// CheckStreamMappings reports Kinesis and DynamoDB stream mappings that can block a shard
// or lose what they discard: without BisectBatchOnFunctionError, with unbounded retries or
// record age (AWS's default, -1, retries a poison record until it expires, blocking its
// shard for a day or a week), a DynamoDB stream whose on-failure destination is not an S3
// bucket (an SQS or SNS destination receives only the batch's position in the stream, and
// the stream forgets its records after 24 hours; S3 receives the records), a DynamoDB
// source table without a StreamSpecification, and a mapped function whose role lacks the
// actions the mapping uses with it: reading the stream, writing to the destination. IAM is
// not enforced by the local stack, so only this check sees a missing permission.
func CheckStreamMappings(t *Template) []Problem {
	var ps []Problem
	for _, m := range t.mappings() {
		if m.kind != "kinesis" && m.kind != "dynamodb" {
			continue
		}
		bad := func(format string, args ...any) {
			ps = append(ps, Problem{"stream-mappings", m.id, fmt.Sprintf(format, args...)})
		}
		if !truthy(m.props["BisectBatchOnFunctionError"]) {
			bad("%s mapping without BisectBatchOnFunctionError: true (a poison record is retried with its whole batch)", m.kind)
		}
		for _, k := range []string{"MaximumRetryAttempts", "MaximumRecordAgeInSeconds"} {
			if v, ok := Int(m.props[k]); !ok || v < 0 {
				bad("%s mapping without a bounded %s (the default -1 retries a poison record until it expires)", m.kind, k)
			}
		}
		dest, _ := Target(onFailureDestination(m.props))
		destType := t.Resources[dest].Type
		if m.kind == "dynamodb" {
			if destType != "AWS::S3::Bucket" {
				bad("the on-failure destination of a DynamoDB stream mapping must be an S3 bucket: an SQS or SNS destination gets only the batch's stream position, which the stream forgets after 24 h")
			}
			if spec, _ := t.Resources[m.source].Properties["StreamSpecification"].(map[string]any); spec["StreamViewType"] == nil {
				bad("source table %s has no StreamSpecification.StreamViewType", m.source)
			}
		}
		fid, ok := Target(m.props["FunctionName"])
		if !ok || !t.isFunction(fid) {
			fid, _, _ = strings.Cut(m.id, ".") // a SAM event: the function that declares it
		}
		if !t.isFunction(fid) {
			continue
		}
		for _, a := range streamReads[m.kind] {
			if !t.allows(fid, a, m.source) {
				bad("function %s is not allowed %s on %s (the mapping reads with the function's role)", fid, a, m.source)
			}
		}
		for _, a := range destinationWrites[destType] {
			if !t.allows(fid, a, dest) {
				bad("function %s is not allowed %s on %s (Lambda writes discarded batches with the function's role)", fid, a, dest)
			}
		}
	}
	sortProblems(ps)
	return ps
}

// onFailureDestination returns DestinationConfig.OnFailure.Destination of a mapping.
func onFailureDestination(props map[string]any) any {
	dc, _ := props["DestinationConfig"].(map[string]any)
	of, _ := dc["OnFailure"].(map[string]any)
	return of["Destination"]
}

// Int returns the value of an integer property (YAML decodes it as int, JSON as
// float64), and false for anything else.
func Int(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		return int(x), true
	}
	return 0, false
}

// allows reports whether an Allow statement of resource id's policies grants action on
// resource target (one of its Resource values points at target, or is "*").
func (t *Template) allows(id, action, target string) bool {
	for _, s := range statements(id, t.Resources[id]) {
		if s.stmt["Effect"] != "Allow" || !contains(allStrings(s.stmt["Action"]), action) {
			continue
		}
		for _, r := range list(s.stmt["Resource"]) {
			if r == "*" {
				return true
			}
			if got, ok := Target(r); ok && got == target {
				return true
			}
		}
	}
	return false
}

// noResourceARN lists actions that cannot be scoped to a resource, so Resource "*" is
// unavoidable for them.
var noResourceARN = map[string]bool{
	"xray:PutTraceSegments":              true,
	"xray:PutTelemetryRecords":           true,
	"xray:GetSamplingRules":              true,
	"xray:GetSamplingTargets":            true,
	"xray:GetSamplingStatisticSummaries": true,
	"cloudwatch:PutMetricData":           true,
	"logs:CreateLogDelivery":             true,
	"logs:GetLogDelivery":                true,
	"logs:UpdateLogDelivery":             true,
	"logs:DeleteLogDelivery":             true,
	"logs:ListLogDeliveries":             true,
	"logs:PutResourcePolicy":             true,
	"logs:DescribeResourcePolicies":      true,
	"logs:DescribeLogGroups":             true,
	"ec2:CreateNetworkInterface":         true,
	"ec2:DescribeNetworkInterfaces":      true,
	"ec2:DeleteNetworkInterface":         true,
	"ec2:AssignPrivateIpAddresses":       true,
	"ec2:UnassignPrivateIpAddresses":     true,
	"sts:GetCallerIdentity":              true,
	"dynamodb:ListStreams":               true,
}

// statements returns the identity-policy statements of a resource (role, policy, SAM
// function or state machine), each with a label for messages. Resource policies (bucket,
// queue, topic, key policies) are not identity policies and are not returned.
func statements(id string, r Resource) []struct {
	label string
	stmt  map[string]any
} {
	var out []struct {
		label string
		stmt  map[string]any
	}
	addDoc := func(label string, doc any) {
		d, _ := doc.(map[string]any)
		for i, s := range list(d["Statement"]) {
			if m, ok := s.(map[string]any); ok {
				out = append(out, struct {
					label string
					stmt  map[string]any
				}{fmt.Sprintf("%s Statement[%d]", label, i), m})
			}
		}
	}
	p := r.Properties
	switch r.Type {
	case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
		for i, pol := range list(p["Policies"]) {
			pm, _ := pol.(map[string]any)
			addDoc(fmt.Sprintf("Policies[%d]", i), pm["PolicyDocument"])
		}
	case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
		addDoc("PolicyDocument", p["PolicyDocument"])
	case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
		// A string is a managed policy name/ARN; a map with Statement a document; any other
		// map a SAM policy template, scoped by its parameters.
		for i, pol := range list(p["Policies"]) {
			if pm, ok := pol.(map[string]any); ok && pm["Statement"] != nil {
				addDoc(fmt.Sprintf("Policies[%d]", i), pm)
			}
		}
	}
	return out
}

// CheckIAM reports Allow statements with a wildcard action ("*" or "service:*"), NotAction,
// or Resource "*" for an action that supports resource-level permissions.
func CheckIAM(t *Template) []Problem {
	var ps []Problem
	for _, id := range t.IDs() {
		for _, s := range statements(id, t.Resources[id]) {
			if s.stmt["Effect"] != "Allow" {
				continue
			}
			if s.stmt["NotAction"] != nil {
				ps = append(ps, Problem{"iam", id, s.label + ": NotAction in an Allow statement"})
			}
			if s.stmt["NotResource"] != nil {
				ps = append(ps, Problem{"iam", id, s.label + ": NotResource in an Allow statement"})
			}
			actions := allStrings(s.stmt["Action"])
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					ps = append(ps, Problem{"iam", id, fmt.Sprintf("%s: wildcard action %q", s.label, a)})
				}
			}
			if !contains(allStrings(s.stmt["Resource"]), "*") {
				continue
			}
			for _, a := range actions {
				if !noResourceARN[a] {
					ps = append(ps, Problem{"iam", id, fmt.Sprintf("%s: Resource \"*\" for %q, which supports resource ARNs", s.label, a)})
				}
			}
		}
	}
	return ps
}

// truthy reports whether a template value is true or may be (an intrinsic that cannot be
// evaluated without parameters counts as true).
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	case map[string]any:
		return len(x) > 0
	}
	return false
}

// CheckEncryption reports tables, queues, topics, streams and buckets without encryption at
// rest configured in the template.
func CheckEncryption(t *Template) []Problem {
	var ps []Problem
	for _, id := range t.IDs() {
		r := t.Resources[id]
		p := r.Properties
		var why string
		switch r.Type {
		case "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable", "AWS::DynamoDB::GlobalTable":
			sse, _ := p["SSESpecification"].(map[string]any)
			if !truthy(sse["SSEEnabled"]) {
				why = "no SSESpecification.SSEEnabled: true"
			}
		case "AWS::SQS::Queue":
			if !truthy(p["SqsManagedSseEnabled"]) && p["KmsMasterKeyId"] == nil {
				why = "neither SqsManagedSseEnabled: true nor KmsMasterKeyId"
			}
		case "AWS::SNS::Topic":
			if p["KmsMasterKeyId"] == nil {
				why = "no KmsMasterKeyId"
			}
		case "AWS::Kinesis::Stream":
			se, _ := p["StreamEncryption"].(map[string]any)
			if se["EncryptionType"] != "KMS" || se["KeyId"] == nil {
				why = "no StreamEncryption (EncryptionType KMS with a KeyId)"
			}
		case "AWS::S3::Bucket":
			be, _ := p["BucketEncryption"].(map[string]any)
			if len(list(be["ServerSideEncryptionConfiguration"])) == 0 {
				why = "no BucketEncryption.ServerSideEncryptionConfiguration"
			}
		default:
			continue
		}
		if why != "" {
			ps = append(ps, Problem{"encryption", id, r.Type + " unencrypted: " + why})
		}
	}
	return ps
}

// CheckDefinitionSubstitutions reports, for each state machine, DefinitionSubstitutions keys
// that its definition never uses and ${placeholders} in the definition that have no
// substitution (they would reach Step Functions literally). DefinitionUri paths are read
// relative to t.Dir; S3 locations are skipped.
func CheckDefinitionSubstitutions(t *Template) []Problem {
	ms, ps := t.machines("definition-substitutions")
	for _, m := range ms {
		used := map[string]bool{}
		for _, n := range SubNames(m.text) {
			used[n] = true
		}
		for n := range used {
			if _, ok := m.subs[n]; !ok {
				ps = append(ps, Problem{"definition-substitutions", m.id, fmt.Sprintf("${%s} in the definition has no DefinitionSubstitutions entry", n)})
			}
		}
		for k := range m.subs {
			if !used[k] {
				ps = append(ps, Problem{"definition-substitutions", m.id, fmt.Sprintf("DefinitionSubstitutions key %s is not used by the definition", k)})
			}
		}
	}
	sortProblems(ps)
	return ps
}
