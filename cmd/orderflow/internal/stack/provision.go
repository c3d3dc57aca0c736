package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/tools/template"
)

// clients are the SDK clients provisioning and the event sources use.
type clients struct {
	ddb     *dynamodb.Client
	streams *dynamodbstreams.Client
	sqs     *sqs.Client
	sns     *sns.Client
	kinesis *kinesis.Client
	events  *eventbridge.Client
	sfn     *sfn.Client
	s3      *s3.Client
}

func newClients(cfg aws.Config) *clients {
	return &clients{
		ddb:     dynamodb.NewFromConfig(cfg),
		streams: dynamodbstreams.NewFromConfig(cfg),
		sqs:     sqs.NewFromConfig(cfg),
		sns:     sns.NewFromConfig(cfg),
		kinesis: kinesis.NewFromConfig(cfg),
		events:  eventbridge.NewFromConfig(cfg),
		sfn:     sfn.NewFromConfig(cfg),
		s3:      s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
}

// FunctionSpec is one Lambda function of the template, resolved for the local stack.
type FunctionSpec struct {
	LogicalID string
	Name      string
	ARN       string
	// Dir is the function's main package, relative to the template ("functions/ingest").
	Dir      string
	Env      map[string]string
	Timeout  time.Duration
	MemoryMB int
	Async    sources.AsyncConfig
	// Runtime, Handler and Architectures as the template (with its Globals) says.
	Runtime, Handler string
	Architectures    []string
}

// skipped resource types: not needed to run the system locally. One note each.
var skipped = map[string]string{
	"AWS::IAM::Role":                  "IAM is not enforced locally",
	"AWS::IAM::Policy":                "IAM is not enforced locally",
	"AWS::IAM::ManagedPolicy":         "IAM is not enforced locally",
	"AWS::Logs::LogGroup":             "functions log to the terminal",
	"AWS::Lambda::Permission":         "IAM is not enforced locally",
	"AWS::SQS::QueuePolicy":           "IAM is not enforced locally",
	"AWS::SNS::TopicPolicy":           "IAM is not enforced locally",
	"AWS::S3::BucketPolicy":           "IAM is not enforced locally",
	"AWS::CloudWatch::Alarm":          "no CloudWatch locally",
	"AWS::CloudWatch::Dashboard":      "no CloudWatch locally",
	"AWS::Glue::Database":             "no Glue/Athena locally",
	"AWS::Glue::Table":                "no Glue/Athena locally",
	"AWS::Athena::WorkGroup":          "no Glue/Athena locally",
	"AWS::Budgets::Budget":            "no billing locally",
	"AWS::Lambda::EventInvokeConfig":  "read from the function",
	"AWS::Lambda::EventSourceMapping": "run by the local event sources",
}

// provisioner creates the resources of one template (and, lazily, of its nested stacks).
type provisioner struct {
	ctx    context.Context
	c      *clients
	r      *resolver
	t      *template.Template
	stack  string
	phys   map[string]*Physical
	busy   map[string]bool
	notes  *[]string
	queues map[string]string // queue ARN -> URL, shared with nested stacks
	// nestedOverrides are the parameters a parent passes to this (nested) template.
	functions map[string]*FunctionSpec
	targets   []sources.Target
	sqsMaps   []*sources.SQSMapping
	kinMaps   []*sources.KinesisMapping
	ddbMaps   []*sources.DynamoDBMapping
}

func newProvisioner(ctx context.Context, c *clients, t *template.Template, stack string, params map[string]string, notes *[]string, queues map[string]string) (*provisioner, error) {
	r, err := newResolver(t, stack, params)
	if err != nil {
		return nil, err
	}
	p := &provisioner{ctx: ctx, c: c, r: r, t: t, stack: stack, phys: map[string]*Physical{}, busy: map[string]bool{},
		notes: notes, queues: queues, functions: map[string]*FunctionSpec{}}
	r.ensure = p.ensure
	return p, nil
}

func (p *provisioner) note(format string, args ...any) {
	*p.notes = append(*p.notes, p.stack+": "+fmt.Sprintf(format, args...))
}

// provisionTemplates provisions root (opts.Template) and then each of opts.Templates into
// one emulator, sharing the queue map (a rule of one may target a queue of another) and
// the notes, and returns their provisioners, root first. A parameter goes to every
// template that declares it; one no template declares is an error of the root's.
func provisionTemplates(ctx context.Context, c *clients, root *template.Template, opts Options) ([]*provisioner, error) {
	notes, queues := []string{}, map[string]string{}
	extra := make([]*template.Template, 0, len(opts.Templates))
	declared := map[string]bool{}
	for _, path := range opts.Templates {
		t, err := template.Load(path)
		if err != nil {
			return nil, err
		}
		extra = append(extra, t)
		for k := range t.Parameters {
			declared[k] = true
		}
	}
	params := func(t *template.Template, all bool) map[string]string {
		out := map[string]string{}
		for k, v := range opts.Parameters {
			if _, ok := t.Parameters[k]; ok || (all && !declared[k]) {
				out[k] = v
			}
		}
		return out
	}
	var provs []*provisioner
	for i, t := range append([]*template.Template{root}, extra...) {
		name, path := opts.StackName, opts.Template
		if i > 0 {
			name, path = filepath.Base(t.Dir), opts.Templates[i-1]
		}
		p, err := newProvisioner(ctx, c, t, name, params(t, i == 0), &notes, queues)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := p.provisionAll(); err != nil {
			return nil, fmt.Errorf("provision %s: %w", path, err)
		}
		if i > 0 {
			// Function directories are relative to the template; the runner builds and
			// finds them relative to the module root.
			rel, err := relDir(opts.Dir, t.Dir)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			for _, f := range p.functions {
				f.Dir = filepath.Join(rel, f.Dir)
			}
		}
		provs = append(provs, p)
	}
	return provs, nil
}

// relDir returns dir relative to root; dir must be inside root.
func relDir(root, dir string) (string, error) {
	ar, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	ad, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(ar, ad)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("template directory %s is not inside the module root %s", dir, root)
	}
	return rel, nil
}

// provisionAll ensures every resource, then resolves functions and event sources.
func (p *provisioner) provisionAll() error {
	for _, id := range p.t.IDs() {
		if _, err := p.ensure(id); err != nil {
			return err
		}
	}
	for _, id := range p.t.IDs("AWS::Serverless::Function", "AWS::Lambda::Function") {
		if ok, err := p.active(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := p.function(id); err != nil {
			return fmt.Errorf("function %s: %w", id, err)
		}
	}
	for _, id := range p.t.IDs("AWS::Lambda::EventSourceMapping") {
		props, err := p.props(id)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if err := p.mapping(id, props); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	return nil
}

func (p *provisioner) active(id string) (bool, error) {
	c := p.t.Resources[id].Condition
	if c == "" {
		return true, nil
	}
	return p.r.condition(c)
}

func (p *provisioner) props(id string) (map[string]any, error) {
	v, err := p.r.resolve(p.t.Resources[id].Properties)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// defaultName is the physical name of a resource whose template sets none.
func (p *provisioner) defaultName(id string) string { return p.stack + "-" + id }

func arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, Region, AccountID, resource)
}

// ensure provisions resource id on first use and returns what it resolves to.
func (p *provisioner) ensure(id string) (*Physical, error) {
	if ph, ok := p.phys[id]; ok {
		return ph, nil
	}
	if p.busy[id] {
		return nil, fmt.Errorf("circular reference through %s", id)
	}
	p.busy[id] = true
	defer delete(p.busy, id)
	res := p.t.Resources[id]
	if ok, err := p.active(id); err != nil {
		return nil, err
	} else if !ok {
		ph := &Physical{Ref: "", Attrs: map[string]string{}}
		p.phys[id] = ph
		p.note("%s (%s): condition %s is false, not created", id, res.Type, res.Condition)
		return ph, nil
	}
	ph, err := p.create(id, res)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", id, res.Type, err)
	}
	p.phys[id] = ph
	return ph, nil
}

func (p *provisioner) create(id string, res template.Resource) (*Physical, error) {
	if why, ok := skipped[res.Type]; ok {
		name := p.defaultName(id)
		for _, k := range []string{"Name", "LogGroupName", "RoleName", "AlarmName", "DashboardName", "ArchiveName"} {
			if s, err := p.r.String(res.Properties[k]); err == nil && s != "" {
				name = s
				break
			}
		}
		if res.Type != "AWS::Lambda::EventSourceMapping" {
			p.note("skipped %s (%s): %s", id, res.Type, why)
		}
		svc := strings.ToLower(strings.Split(res.Type, "::")[1])
		return &Physical{Ref: name, Attrs: map[string]string{"Arn": arn(svc, name)}}, nil
	}
	ctx := p.ctx
	switch res.Type {
	case "AWS::DynamoDB::Table":
		return p.table(ctx, id)
	case "AWS::SQS::Queue":
		return p.queue(ctx, id)
	case "AWS::SNS::Topic":
		return p.topic(ctx, id)
	case "AWS::SNS::Subscription":
		props, err := p.props(id)
		if err != nil {
			return nil, err
		}
		in := &sns.SubscribeInput{TopicArn: aws.String(str(props, "TopicArn")), Protocol: aws.String(str(props, "Protocol")),
			Endpoint: aws.String(str(props, "Endpoint")), Attributes: map[string]string{}}
		for _, k := range []string{"FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"} {
			if v, ok := props[k]; ok {
				s, err := jsonString(v)
				if err != nil {
					return nil, err
				}
				in.Attributes[k] = s
			}
		}
		out, err := p.c.sns.Subscribe(ctx, in)
		if err != nil {
			return nil, err
		}
		return &Physical{Ref: aws.ToString(out.SubscriptionArn), Attrs: map[string]string{}}, nil
	case "AWS::Kinesis::Stream":
		return p.stream(ctx, id)
	case "AWS::Events::EventBus":
		props, err := p.props(id)
		if err != nil {
			return nil, err
		}
		name := str(props, "Name")
		out, err := p.c.events.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)})
		if err != nil {
			return nil, err
		}
		return &Physical{Ref: name, Attrs: map[string]string{"Arn": aws.ToString(out.EventBusArn), "Name": name}}, nil
	case "AWS::Events::Rule":
		return p.rule(ctx, id)
	case "AWS::Events::Archive":
		return p.archive(ctx, id)
	case "AWS::S3::Bucket":
		props, err := p.props(id)
		if err != nil {
			return nil, err
		}
		name := str(props, "BucketName")
		if name == "" {
			name = strings.ToLower(p.defaultName(id))
		}
		if _, err := p.c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			return nil, err
		}
		return &Physical{Ref: name, Attrs: map[string]string{"Arn": "arn:aws:s3:::" + name, "DomainName": name + ".s3.amazonaws.com",
			"RegionalDomainName": name + ".s3.us-east-1.amazonaws.com"}}, nil
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		// Names only; the function itself is resolved after every resource exists, so
		// that its environment may name anything without a cycle.
		name, err := p.r.String(res.Properties["FunctionName"])
		if err != nil {
			return nil, err
		}
		if name == "" {
			name = p.defaultName(id)
		}
		a := arn("lambda", "function:"+name)
		return &Physical{Ref: name, Attrs: map[string]string{"Arn": a}}, nil
	case "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine":
		return p.stateMachine(ctx, id, res)
	case "AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api", "AWS::Serverless::Api":
		p.note("%s: served by the local HTTP API; auth is not enforced locally", id)
		return &Physical{Ref: "local", Attrs: map[string]string{"ApiEndpoint": "http://127.0.0.1"}}, nil
	case "AWS::Serverless::Application", "AWS::CloudFormation::Stack":
		return p.nested(id, res)
	}
	p.note("skipped %s (%s): not supported locally", id, res.Type)
	return &Physical{Ref: p.defaultName(id), Attrs: map[string]string{}}, nil
}

func (p *provisioner) table(ctx context.Context, id string) (*Physical, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, err
	}
	// Warm throughput is AWS capacity the emulator has no notion of (and a parameter
	// reaches it as a string, which the API's integer field would refuse).
	props = maps.Clone(props)
	delete(props, "WarmThroughput")
	var in dynamodb.CreateTableInput
	if err := into(props, &in); err != nil {
		return nil, err
	}
	in.SSESpecification = nil // CloudFormation's SSEEnabled is not the API's shape; moto ignores it anyway
	// CloudFormation enables the stream by naming its view type; the API also wants
	// StreamEnabled.
	if view := str(mapOf(props, "StreamSpecification"), "StreamViewType"); view != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(view)}
	}
	if in.TableName == nil || *in.TableName == "" {
		in.TableName = aws.String(p.defaultName(id))
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil {
		in.BillingMode = ddbtypes.BillingModePayPerRequest
	}
	out, err := p.c.ddb.CreateTable(ctx, &in)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.TableName)
	if ttl := mapOf(props, "TimeToLiveSpecification"); ttl != nil && boolOf(ttl, "Enabled") {
		if _, err := p.c.ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(str(ttl, "AttributeName")), Enabled: aws.Bool(true)}}); err != nil {
			return nil, fmt.Errorf("time to live: %w", err)
		}
	}
	attrs := map[string]string{"Arn": aws.ToString(out.TableDescription.TableArn)}
	if s := aws.ToString(out.TableDescription.LatestStreamArn); s != "" {
		attrs["StreamArn"] = s
	}
	return &Physical{Ref: name, Attrs: attrs}, nil
}

// queueAttributes are the AWS::SQS::Queue properties that are queue attributes.
var queueAttributes = []string{"ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
	"FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize",
	"MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy",
	"SqsManagedSseEnabled", "VisibilityTimeout"}

func (p *provisioner) queue(ctx context.Context, id string) (*Physical, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, err
	}
	name := str(props, "QueueName")
	if name == "" {
		name = p.defaultName(id)
		if boolOf(props, "FifoQueue") {
			name += ".fifo"
		}
	}
	attrs := map[string]string{}
	for _, k := range queueAttributes {
		if v, ok := props[k]; ok {
			s, err := jsonString(v)
			if err != nil {
				return nil, err
			}
			attrs[k] = s
		}
	}
	return p.createQueue(ctx, name, attrs)
}

func (p *provisioner) createQueue(ctx context.Context, name string, attrs map[string]string) (*Physical, error) {
	out, err := p.c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return nil, err
	}
	url := aws.ToString(out.QueueUrl)
	a := arn("sqs", name)
	p.queues[a] = url
	return &Physical{Ref: url, Attrs: map[string]string{"Arn": a, "QueueName": name, "QueueUrl": url}}, nil
}

func (p *provisioner) topic(ctx context.Context, id string) (*Physical, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, err
	}
	name := str(props, "TopicName")
	if name == "" {
		name = p.defaultName(id)
	}
	attrs := map[string]string{}
	for _, k := range []string{"FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId"} {
		if v, ok := props[k]; ok {
			s, _ := jsonString(v)
			attrs[k] = s
		}
	}
	out, err := p.c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		return nil, err
	}
	topicARN := aws.ToString(out.TopicArn)
	for _, s := range listOf(props, "Subscription") {
		m, _ := s.(map[string]any)
		if _, err := p.c.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicARN),
			Protocol: aws.String(str(m, "Protocol")), Endpoint: aws.String(str(m, "Endpoint"))}); err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}
	return &Physical{Ref: topicARN, Attrs: map[string]string{"TopicArn": topicARN, "TopicName": name}}, nil
}

func (p *provisioner) stream(ctx context.Context, id string) (*Physical, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, err
	}
	name := str(props, "Name")
	if name == "" {
		name = p.defaultName(id)
	}
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	if mode := str(mapOf(props, "StreamModeDetails"), "StreamMode"); mode == "ON_DEMAND" {
		in.StreamModeDetails = &ktypes.StreamModeDetails{StreamMode: ktypes.StreamModeOnDemand}
	} else {
		in.ShardCount = aws.Int32(int32(intOf(props, "ShardCount", 1)))
	}
	if _, err := p.c.kinesis.CreateStream(ctx, in); err != nil {
		return nil, err
	}
	if _, ok := props["StreamEncryption"]; ok {
		p.note("%s: StreamEncryption not applied locally", id)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := p.c.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			a := aws.ToString(out.StreamDescriptionSummary.StreamARN)
			return &Physical{Ref: name, Attrs: map[string]string{"Arn": a}}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("stream %s not active after 30s (%v)", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// named returns a resource's resolved properties and its name: property key, or the
// default name when the template sets none.
func (p *provisioner) named(id, key string) (map[string]any, string, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, "", err
	}
	name := str(props, key)
	if name == "" {
		name = p.defaultName(id)
	}
	return props, name, nil
}

// eventPattern returns props' EventPattern as the API's JSON string, nil when unset.
func eventPattern(props map[string]any) (*string, error) {
	pat, ok := props["EventPattern"]
	if !ok {
		return nil, nil
	}
	s, err := jsonString(pat)
	if err != nil {
		return nil, err
	}
	return aws.String(s), nil
}

func (p *provisioner) rule(ctx context.Context, id string) (*Physical, error) {
	props, name, err := p.named(id, "Name")
	if err != nil {
		return nil, err
	}
	bus := str(props, "EventBusName")
	if strings.HasPrefix(bus, "arn:") {
		bus = arnResource(bus)
	}
	in := &eventbridge.PutRuleInput{Name: aws.String(name), Description: aws.String(str(props, "Description"))}
	if bus != "" {
		in.EventBusName = aws.String(bus)
	}
	if in.EventPattern, err = eventPattern(props); err != nil {
		return nil, err
	}
	if s := str(props, "ScheduleExpression"); s != "" {
		p.note("%s: schedule %s is not triggered locally", id, s)
		in.ScheduleExpression = aws.String(s)
	}
	if s := str(props, "State"); s != "" {
		in.State = ebtypes.RuleState(s)
	}
	out, err := p.c.events.PutRule(ctx, in)
	if err != nil {
		return nil, err
	}
	ruleARN := aws.ToString(out.RuleArn)
	var targets []ebtypes.Target
	for _, tv := range listOf(props, "Targets") {
		t, _ := tv.(map[string]any)
		tid, tarn := str(t, "Id"), str(t, "Arn")
		target := ebtypes.Target{Id: aws.String(tid), Arn: aws.String(tarn)}
		if s := str(t, "Input"); s != "" {
			target.Input = aws.String(s)
		}
		if s := str(t, "InputPath"); s != "" {
			target.InputPath = aws.String(s)
		}
		var kind sources.TargetKind
		switch arnService(tarn) {
		case "sqs":
			targets = append(targets, target)
			continue
		case "lambda":
			kind = sources.TargetLambda
		case "states":
			kind = sources.TargetStates
		case "kinesis":
			kind = sources.TargetKinesis
		default:
			p.note("%s: target %s (%s) is not delivered locally", id, tid, tarn)
			continue
		}
		// The emulator delivers to SQS targets only (and a Lambda, Step Functions or
		// Kinesis target makes every PutEvents on the bus fail): the rule sends to an
		// internal queue, and the local delivery forwards from there.
		q, err := p.createQueue(ctx, fmt.Sprintf("%s-%s-local", name, tid), nil)
		if err != nil {
			return nil, fmt.Errorf("internal queue for target %s: %w", tid, err)
		}
		target.Arn = aws.String(q.Attrs["Arn"])
		targets = append(targets, target)
		st := sources.Target{Rule: name, RuleARN: ruleARN, ID: tid, Kind: kind, ARN: tarn, QueueURL: q.Ref,
			Retries: 185, MaxAge: 24 * time.Hour}
		if rp := mapOf(t, "RetryPolicy"); rp != nil {
			st.Retries = intOf(rp, "MaximumRetryAttempts", 185)
			st.MaxAge = time.Duration(intOf(rp, "MaximumEventAgeInSeconds", 86400)) * time.Second
		}
		if dlq := str(mapOf(t, "DeadLetterConfig"), "Arn"); dlq != "" {
			st.DLQURL = p.queues[dlq]
			if st.DLQURL == "" {
				return nil, fmt.Errorf("target %s: DLQ %s is not a queue of the stack", tid, dlq)
			}
		}
		switch kind {
		case sources.TargetLambda:
			st.Function = arnResource(tarn)
		case sources.TargetKinesis:
			st.Stream = arnResource(tarn)
			st.KeyPath = str(mapOf(t, "KinesisParameters"), "PartitionKeyPath")
		}
		p.targets = append(p.targets, st)
	}
	if len(targets) > 0 {
		in := &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: targets}
		if bus != "" {
			in.EventBusName = aws.String(bus)
		}
		res, err := p.c.events.PutTargets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("put targets: %w", err)
		}
		if res.FailedEntryCount > 0 {
			return nil, fmt.Errorf("put targets: %d failed: %s", res.FailedEntryCount, aws.ToString(res.FailedEntries[0].ErrorMessage))
		}
	}
	return &Physical{Ref: name, Attrs: map[string]string{"Arn": ruleARN}}, nil
}

// archive creates an EventBridge archive: the emulator keeps its events, and
// `orderflow events replay` replays them (StartReplay), as on AWS.
func (p *provisioner) archive(ctx context.Context, id string) (*Physical, error) {
	props, name, err := p.named(id, "ArchiveName")
	if err != nil {
		return nil, err
	}
	in := &eventbridge.CreateArchiveInput{ArchiveName: aws.String(name), EventSourceArn: aws.String(str(props, "SourceArn")),
		Description: aws.String(str(props, "Description"))}
	if _, ok := props["RetentionDays"]; ok {
		in.RetentionDays = aws.Int32(int32(intOf(props, "RetentionDays", 0)))
	}
	if in.EventPattern, err = eventPattern(props); err != nil {
		return nil, err
	}
	out, err := p.c.events.CreateArchive(ctx, in)
	if err != nil {
		return nil, err
	}
	return &Physical{Ref: name, Attrs: map[string]string{"Arn": aws.ToString(out.ArchiveArn)}}, nil
}

func (p *provisioner) stateMachine(ctx context.Context, id string, res template.Resource) (*Physical, error) {
	props, err := p.props(id)
	if err != nil {
		return nil, err
	}
	name := str(props, "Name")
	if name == "" {
		name = str(props, "StateMachineName")
	}
	if name == "" {
		name = p.defaultName(id)
	}
	var def string
	switch {
	case props["Definition"] != nil:
		s, err := jsonString(props["Definition"])
		if err != nil {
			return nil, err
		}
		def = s
	case str(props, "DefinitionString") != "":
		def = str(props, "DefinitionString")
	case str(props, "DefinitionUri") != "":
		b, err := os.ReadFile(filepath.Join(p.t.Dir, str(props, "DefinitionUri")))
		if err != nil {
			return nil, err
		}
		def = string(b)
	default:
		return nil, errors.New("no Definition, DefinitionString or DefinitionUri (S3 locations are not supported locally)")
	}
	subs := mapOf(props, "DefinitionSubstitutions")
	keys := make([]string, 0, len(subs))
	for k := range subs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := jsonString(subs[k])
		if err != nil {
			return nil, fmt.Errorf("substitution %s: %w", k, err)
		}
		def = strings.ReplaceAll(def, "${"+k+"}", v)
	}
	if ns := template.SubNames(def); len(ns) > 0 {
		return nil, fmt.Errorf("definition has unresolved substitutions %v", ns)
	}
	typ := sfntypes.StateMachineTypeStandard
	if str(props, "Type") == "EXPRESS" || str(props, "StateMachineType") == "EXPRESS" {
		typ = sfntypes.StateMachineTypeExpress
	}
	out, err := p.c.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), Type: typ,
		RoleArn: aws.String(fmt.Sprintf("arn:aws:iam::%s:role/%s-%sRole", AccountID, p.stack, id)),
	})
	if err != nil {
		return nil, err
	}
	if ev := mapOf(props, "Events"); len(ev) > 0 {
		p.note("%s: state machine Events are not wired locally", id)
	}
	a := aws.ToString(out.StateMachineArn)
	return &Physical{Ref: a, Attrs: map[string]string{"Arn": a, "Name": name}}, nil
}
