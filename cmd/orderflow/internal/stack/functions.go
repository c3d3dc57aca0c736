package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/tools/template"
)

// nested provisions a nested stack lazily: its resources are created when one of its
// outputs is first used (so the data lake's bucket is created because a function's
// environment names it, and an unused nested stack costs nothing).
func (p *provisioner) nested(id string, res template.Resource) (*Physical, error) {
	loc, err := p.r.String(res.Properties["Location"])
	if err != nil || loc == "" {
		loc, err = p.r.String(res.Properties["TemplateURL"])
	}
	if err != nil || loc == "" || strings.Contains(loc, "://") {
		p.note("skipped %s: nested stack location %q is not a local file", id, loc)
		return &Physical{Ref: p.defaultName(id), Attrs: map[string]string{}}, nil
	}
	var child *provisioner
	open := func() (*provisioner, error) {
		if child != nil {
			return child, nil
		}
		t, err := template.Load(filepath.Join(p.t.Dir, loc))
		if err != nil {
			return nil, err
		}
		params := map[string]string{}
		given, _ := res.Properties["Parameters"].(map[string]any)
		for k, v := range given {
			if _, declared := t.Parameters[k]; !declared {
				continue
			}
			s, err := p.r.String(v)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", k, err)
			}
			params[k] = s
		}
		child, err = newProvisioner(p.ctx, p.c, t, p.stack+"-"+strings.ToLower(id), params, p.notes, p.queues)
		return child, err
	}
	ph := &Physical{Ref: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s-%s/local", Region, AccountID, p.stack, id), Attrs: map[string]string{}}
	ph.lookup = func(attr string) (string, error) {
		out, ok := strings.CutPrefix(attr, "Outputs.")
		if !ok {
			return "", fmt.Errorf("nested stack %s has no attribute %s", id, attr)
		}
		c, err := open()
		if err != nil {
			return "", fmt.Errorf("nested stack %s: %w", id, err)
		}
		o, ok := c.t.Outputs[out]
		if !ok {
			return "", fmt.Errorf("nested stack %s has no output %s", id, out)
		}
		v, err := c.r.String(o.Value)
		if err != nil {
			return "", fmt.Errorf("nested stack %s output %s: %w", id, out, err)
		}
		ph.Attrs[attr] = v
		return v, nil
	}
	return ph, nil
}

// function resolves a function's configuration: SAM Globals merged with its properties.
func (p *provisioner) function(id string) error {
	ph, err := p.ensure(id)
	if err != nil {
		return err
	}
	res := p.t.Resources[id]
	merged := map[string]any{}
	if res.Type == "AWS::Serverless::Function" {
		if g, ok := p.t.Globals["Function"].(map[string]any); ok {
			for k, v := range g {
				merged[k] = v
			}
		}
	}
	for k, v := range res.Properties {
		if k == "Environment" {
			continue
		}
		merged[k] = v
	}
	vars := map[string]any{}
	for _, src := range []map[string]any{mapOf(p.t.Globals, "Function"), res.Properties} {
		env := mapOf(src, "Environment")
		for k, v := range mapOf(env, "Variables") {
			vars[k] = v
		}
	}
	spec := &FunctionSpec{LogicalID: id, Name: ph.Ref, ARN: ph.Attrs["Arn"], Env: map[string]string{}, Timeout: 3 * time.Second, MemoryMB: 128}
	for k, v := range vars {
		rv, err := p.r.resolve(v)
		if _, drop := rv.(noValue); drop {
			continue // AWS::NoValue: the variable is not set, as CloudFormation does
		}
		s := ""
		if err == nil {
			s, err = scalarString(rv)
		}
		if err != nil {
			return fmt.Errorf("environment %s: %w", k, err)
		}
		spec.Env[k] = s
	}
	props, err := p.r.resolve(merged)
	if err != nil {
		return err
	}
	m, _ := props.(map[string]any)
	spec.Timeout = time.Duration(intOf(m, "Timeout", 3)) * time.Second
	spec.MemoryMB = intOf(m, "MemorySize", 128)
	spec.Runtime, spec.Handler = str(m, "Runtime"), str(m, "Handler")
	for _, a := range listOf(m, "Architectures") {
		if v, err := scalarString(a); err == nil {
			spec.Architectures = append(spec.Architectures, v)
		}
	}
	spec.Dir = functionDir(id)
	spec.Async = sources.AsyncConfig{MaxRetries: 2, FunctionARN: spec.ARN}
	if eic := mapOf(m, "EventInvokeConfig"); eic != nil {
		spec.Async.MaxRetries = intOf(eic, "MaximumRetryAttempts", 2)
		spec.Async.MaxEventAge = time.Duration(intOf(eic, "MaximumEventAgeInSeconds", 21600)) * time.Second
		if a := str(mapOf(mapOf(eic, "DestinationConfig"), "OnFailure"), "Destination"); a != "" {
			if arnService(a) != "sqs" || p.queues[a] == "" {
				p.note("%s: on-failure destination %s is not delivered locally (SQS only)", id, a)
			} else {
				spec.Async.OnFailureURL = p.queues[a]
			}
		}
	}
	p.functions[id] = spec
	for evID, ev := range mapOf(m, "Events") {
		e, _ := ev.(map[string]any)
		ep := mapOf(e, "Properties")
		switch typ := str(e, "Type"); typ {
		case "SQS", "Kinesis":
			ep = copyMap(ep)
			ep["FunctionName"] = spec.Name
			ep["EventSourceArn"] = ep[map[string]string{"SQS": "Queue", "Kinesis": "Stream"}[typ]]
			if err := p.mapping(id+"."+evID, ep); err != nil {
				return err
			}
		case "HttpApi", "Api":
			// served by the local HTTP API from the template's routes
		default:
			p.note("%s: event %s (%s) is not wired locally", id, evID, typ)
		}
	}
	return nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// functionDir returns the main package of a function: functions/<name> where name is the
// logical ID without its "Function" suffix, lower case (IngestFunction → functions/ingest),
// as the Makefile's build-<LogicalId> targets build it.
func functionDir(id string) string {
	name := strings.ToLower(strings.TrimSuffix(id, "Function"))
	return filepath.Join("functions", name)
}

// mapping turns an event source mapping (resolved properties) into a local mapping.
func (p *provisioner) mapping(id string, props map[string]any) error {
	src := str(props, "EventSourceArn")
	fn := str(props, "FunctionName")
	if strings.HasPrefix(fn, "arn:") {
		fn = strings.Split(fn, ":")[6]
	}
	report := false
	for _, t := range listOf(props, "FunctionResponseTypes") {
		if t == "ReportBatchItemFailures" {
			report = true
		}
	}
	window := time.Duration(intOf(props, "MaximumBatchingWindowInSeconds", 0)) * time.Second
	if v, ok := props["Enabled"]; ok && !boolOf(props, "Enabled") && v != nil {
		p.note("%s: disabled", id)
		return nil
	}
	switch arnService(src) {
	case "sqs":
		url := p.queues[src]
		if url == "" {
			return fmt.Errorf("event source %s is not a queue of the stack", src)
		}
		// Lambda reads an SQS queue with five concurrent batches to begin with and scales
		// up from there, never past the mapping's MaximumConcurrency
		// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html); the
		// local stack stays at the five.
		pollers := sqsInitialPollers
		if sc := mapOf(props, "ScalingConfig"); sc != nil {
			pollers = min(pollers, max(1, intOf(sc, "MaximumConcurrency", pollers)))
		}
		p.sqsMaps = append(p.sqsMaps, &sources.SQSMapping{QueueURL: url, QueueARN: src, Function: fn,
			BatchSize: intOf(props, "BatchSize", 10), Window: window, ReportBatchItemFailures: report, Pollers: pollers, Region: Region})
	case "kinesis", "dynamodb":
		// The mapping is made first and its StreamConfig filled in place: a running
		// StreamConfig holds its shards' state and is not copied.
		var cfg *sources.StreamConfig
		if arnService(src) == "kinesis" {
			m := &sources.KinesisMapping{StreamARN: src, Stream: arnResource(src)}
			p.kinMaps, cfg = append(p.kinMaps, m), &m.StreamConfig
		} else {
			m := &sources.DynamoDBMapping{StreamARN: src}
			p.ddbMaps, cfg = append(p.ddbMaps, m), &m.StreamConfig
		}
		*cfg = sources.StreamConfig{Function: fn, FunctionARN: arn("lambda", "function:"+fn), Region: Region, MappingID: id,
			BatchSize: intOf(props, "BatchSize", 100), Window: window, StartingPosition: str(props, "StartingPosition"),
			BisectOnError: boolOf(props, "BisectBatchOnFunctionError"), MaxRetries: intOf(props, "MaximumRetryAttempts", -1),
			MaxRecordAge:            time.Duration(intOf(props, "MaximumRecordAgeInSeconds", -1)) * time.Second,
			ReportBatchItemFailures: report}
		if dest := str(mapOf(mapOf(props, "DestinationConfig"), "OnFailure"), "Destination"); dest != "" {
			switch {
			case arnService(dest) == "sqs" && p.queues[dest] != "":
				cfg.OnFailure = sources.SQSDestination{Client: p.c.sqs, QueueURL: p.queues[dest]}
			case arnService(dest) == "s3":
				cfg.OnFailure = sources.S3Destination{Client: p.c.s3, Bucket: arnResource(dest), Mapping: mappingUUID(p.stack, id)}
			default:
				p.note("%s: on-failure destination %s is not delivered locally (SQS queues and S3 buckets only)", id, dest)
			}
		}
	default:
		p.note("%s: event source %s is not supported locally", id, src)
	}
	return nil
}

// mappingUUID is the UUID an event source mapping gets: AWS draws one at creation, the
// local stack derives it from the stack and the mapping's ID, so it is stable across runs.
func mappingUUID(stack, id string) string {
	h := sha256.Sum256([]byte(stack + "/" + id))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sqsInitialPollers is how many batches an SQS mapping has in flight at once locally:
// Lambda's five to begin with.
const sqsInitialPollers = 5
