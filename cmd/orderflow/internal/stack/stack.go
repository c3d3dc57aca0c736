// Package stack runs orderflow on one machine without an AWS account: the AWS APIs in
// moto (or another endpoint), the resources of template.yaml, the functions as their
// `bootstrap` binaries behind a local Lambda Runtime API, the event sources with AWS's
// semantics, an edge endpoint for every AWS call, and the HTTP API on localhost.
//
// Up brings everything up and returns once the stack answers; Close stops every child
// process and frees every port.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/tools/emulator"
	"github.com/orderflow/orderflow/tools/template"
)

// Options configure Up. The zero value runs template.yaml in the current directory on
// free ports.
type Options struct {
	// Template is the SAM template; default template.yaml.
	Template string
	// Templates are further templates run beside Template (an example consumer,
	// examples/loyalty/template.yaml): provisioned into the same emulator after it, their
	// functions run under the same host. A parameter of Parameters applies to every
	// template that declares it; resource names default to <template's directory>-<id>.
	// Their resources are in Tables, Queues and Functions as "<directory>/<id>".
	Templates []string
	// Dir is the module root, where functions/ and the build directory are; default the
	// template's directory.
	Dir string
	// HTTPPort and EdgePort are the 127.0.0.1 ports of the HTTP API and of the AWS
	// endpoint; 0 picks a free port (the CLI's defaults are 3000 and 4566).
	HTTPPort int
	EdgePort int
	// AWSEndpoint, when set, is used instead of starting moto (LocalStack, a running moto).
	AWSEndpoint string
	// BuildDir holds <function>/bootstrap; default <Dir>/build/local.
	BuildDir string
	// Build runs `go build` for every function before starting it.
	Build bool
	// Catalog is the demo catalog loaded into the inventory table; default
	// <Dir>/local/catalog.json; "-" loads none.
	Catalog string
	// LockDir holds the lock file that keeps a second stack from starting; default
	// <Dir>/.local.
	LockDir string
	// Parameters override the template's parameter defaults (Stage defaults to dev).
	Parameters map[string]string
	// StackName prefixes the names of resources the template does not name; default orderflow.
	StackName string
	// PoolSize is how many instances of each function may run at once (default 2).
	PoolSize int
	// SkipFunctions provisions and serves the AWS APIs only: no function is started, the
	// event sources do not run.
	SkipFunctions bool
	// Log receives the stack's own log (default: stderr, text). FunctionLog receives
	// the functions' output and the emulator's (default: discarded).
	Log         *slog.Logger
	FunctionLog io.Writer
	// EmulatorLog receives moto's output (default: discarded; its last lines are in
	// the error when it fails to start).
	EmulatorLog io.Writer
	// Faults, when set, injects faults (cmd/orderflow/internal/chaos): AWS errors and
	// latency at the edge, function crashes, duplicate deliveries. Off by default.
	Faults *chaos.Spec
	// VisibilityTimeout, when positive, overrides every queue's visibility timeout
	// (tests: a redelivery within seconds instead of the template's 60 s).
	VisibilityTimeout time.Duration

	// listening is given the stack as soon as its endpoints listen; beforeReady runs
	// just before the stack is marked ready (tests of the readiness gate).
	listening   func(*Stack)
	beforeReady func(*Stack)
}

// Stack is a running local stack.
type Stack struct {
	// HTTPURL is the HTTP API (http://127.0.0.1:3000), EdgeURL the AWS endpoint every
	// function uses (http://127.0.0.1:4566), EmulatorURL the emulator behind it.
	HTTPURL     string
	EdgeURL     string
	EmulatorURL string
	// Tables, Queues (URLs), Functions (names) and the root template's Buckets by
	// logical ID.
	Tables    map[string]string
	Queues    map[string]string
	Functions map[string]string
	Buckets   map[string]string
	// The orders bus, stream, topic, data-lake bucket and state machine (by their role:
	// the template's only resource of each type; the data lake is the bucket the
	// functions know as DATA_LAKE_BUCKET).
	Bus             string
	Stream          string
	Topic           string
	Bucket          string
	StateMachineARN string
	// Outputs are the template's outputs that resolve locally.
	Outputs map[string]string
	// Notes say what was skipped or differs from AWS, one line each.
	Notes []string
	// Calls counts AWS calls through the edge: the product's (functions and the state
	// machine) and, apart, the AWS-internal ones the stack makes on AWS's behalf.
	Calls *edge.Counter
	// Edge is the AWS endpoint handler; Use adds middlewares (fault injection).
	Edge *edge.Handler
	// Config is an aws.Config for the emulator (direct, not counted, no faults).
	Config aws.Config
	// InternalConfig is the aws.Config of the calls the stack makes on AWS's behalf
	// (event sources, rule targets, on-failure destinations): through the edge, signed as
	// AWS-internal, so fault injection sees them too.
	InternalConfig aws.Config
	// Faults injects the faults of Options.Faults (nil when off); Set changes them.
	Faults *chaos.Injector
	// Issuer is the local JWT issuer (ApiAuth=JWT without JwtIssuer), nil otherwise; it
	// is saved in the lock dir for `orderflow token`.
	Issuer *jwtauth.Issuer

	log      *slog.Logger
	specs    []*FunctionSpec // the functions as the template configures them
	emu      *emulator.Server
	runner   Runner
	servers  []*http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	async    *sources.Async
	sources  []busySource
	streams  []*sources.StreamConfig // the Kinesis and DynamoDB stream mappings
	work     []string                // the queues work waits in: the template's but its DLQs, the rule targets' internal ones
	ready    *edge.Readiness
	lock     *os.File
	lockPath string
	stateDir string // where the issuer is saved
	closeMu  sync.Once
}

// busySource is an event source that can say how much it holds.
type busySource interface{ Busy() int }

// notReady is what the edge and the HTTP API answer (503) until the stack is ready.
const notReady = "the orderflow local stack is starting (provisioning template.yaml's resources); " +
	"wait for it with `orderflow local wait` (or GET /_orderflow/ready until 200)"

// ReadyInfo is what --ready-file holds.
type ReadyInfo struct {
	PID         int    `json:"pid"`
	HTTPURL     string `json:"httpUrl"`
	EdgeURL     string `json:"edgeUrl"`
	EmulatorURL string `json:"emulatorUrl"`
	// EmulatorPID is moto's process (0 with --aws-endpoint), for measuring its memory.
	EmulatorPID     int               `json:"emulatorPid,omitempty"`
	Tables          map[string]string `json:"tables"`
	Queues          map[string]string `json:"queues"`
	Functions       map[string]string `json:"functions"`
	Bus             string            `json:"bus"`
	Stream          string            `json:"stream"`
	Topic           string            `json:"topic"`
	Bucket          string            `json:"bucket"`
	StateMachineARN string            `json:"stateMachineArn"`
	Outputs         map[string]string `json:"outputs"`
}

// Info returns the stack's endpoints and names.
func (s *Stack) Info() ReadyInfo {
	pid := 0
	if s.emu != nil {
		pid = s.emu.PID
	}
	return ReadyInfo{PID: os.Getpid(), HTTPURL: s.HTTPURL, EdgeURL: s.EdgeURL, EmulatorURL: s.EmulatorURL, EmulatorPID: pid,
		Tables: s.Tables, Queues: s.Queues, Functions: s.Functions, Bus: s.Bus, Stream: s.Stream, Topic: s.Topic,
		Bucket: s.Bucket, StateMachineARN: s.StateMachineARN, Outputs: s.Outputs}
}

// WriteReadyFile writes Info as JSON to path (atomically).
func (s *Stack) WriteReadyFile(path string) error {
	b, err := json.MarshalIndent(s.Info(), "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ErrAlreadyRunning is returned (wrapped) by Up when another local stack holds the lock.
var ErrAlreadyRunning = errors.New("another orderflow local stack is running")

func (o *Options) defaults() error {
	if o.Template == "" {
		o.Template = "template.yaml"
	}
	if o.Dir == "" {
		o.Dir = filepath.Dir(o.Template)
	}
	if o.BuildDir == "" {
		o.BuildDir = filepath.Join(o.Dir, "build", "local")
	}
	if o.Catalog == "" {
		o.Catalog = filepath.Join(o.Dir, "local", "catalog.json")
	}
	if o.LockDir == "" {
		o.LockDir = filepath.Join(o.Dir, ".local")
	}
	if o.StackName == "" {
		o.StackName = "orderflow"
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 2
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.FunctionLog == nil {
		o.FunctionLog = io.Discard
	}
	params := map[string]string{"Stage": "dev"}
	for k, v := range o.Parameters {
		params[k] = v
	}
	o.Parameters = params
	return nil
}

// listen opens 127.0.0.1:port (0: a free port) with a clear error when it is taken.
func listen(what string, port int) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("%s: port %d is in use (is another `orderflow local up`, `sam local start-api` or LocalStack running?): %w", what, port, err)
	}
	return l, nil
}

// Up starts the local stack. ctx bounds the start only; call Close to stop it. On error
// everything started so far is stopped.
func Up(ctx context.Context, opts Options) (_ *Stack, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	t, err := template.Load(opts.Template)
	if err != nil {
		return nil, err
	}
	s := &Stack{log: opts.Log, ready: &edge.Readiness{Message: notReady}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.takeLock(opts.LockDir); err != nil {
		return nil, err
	}
	ep, err := s.openEndpoints(opts)
	if err != nil {
		return nil, err
	}
	upstream, err := s.connectEmulator(ctx, opts, ep)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	lambdaAPI, gate := s.serveEdge(upstream, opts, ep)
	provs, err := s.provision(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	inv, err := s.startFunctions(ctx, opts, provs)
	if err != nil {
		return nil, err
	}
	// What the stack does on AWS's behalf goes through the edge as AWS-internal calls.
	ic := newClients(s.InternalConfig)
	s.startAsync(runCtx, opts, inv, ic, lambdaAPI)
	if !opts.SkipFunctions {
		s.startSources(runCtx, opts, provs, inv, ic, gate)
	}
	if err := s.serveAPI(t, provs[0], inv, ep); err != nil {
		return nil, err
	}
	if opts.beforeReady != nil {
		opts.beforeReady(s)
	}
	s.ready.SetReady()
	return s, nil
}

// endpoints are the stack's two listeners while Up runs: the edge (AWS endpoint) is
// served once the emulator is there, the HTTP API at once, answering 503 with notReady
// until Up ends — nothing a client does can reach resources that do not exist yet.
type endpoints struct {
	edgeL    net.Listener
	edgeSrv  *http.Server
	edgePort int

	mu  sync.RWMutex
	api http.Handler // what the HTTP API serves once ready
}

func (e *endpoints) setAPI(h http.Handler) {
	e.mu.Lock()
	e.api = h
	e.mu.Unlock()
}

func (e *endpoints) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	h := e.api
	e.mu.RUnlock()
	h.ServeHTTP(w, r)
}

// openEndpoints listens on the edge and HTTP API ports (setting EdgeURL and HTTPURL) and
// starts serving the HTTP API.
func (s *Stack) openEndpoints(opts Options) (*endpoints, error) {
	edgeL, err := listen("edge endpoint", opts.EdgePort)
	if err != nil {
		return nil, err
	}
	ep := &endpoints{edgeL: edgeL, edgeSrv: &http.Server{ReadHeaderTimeout: 10 * time.Second},
		edgePort: edgeL.Addr().(*net.TCPAddr).Port, api: http.NotFoundHandler()}
	s.servers = append(s.servers, ep.edgeSrv)
	s.EdgeURL = "http://127.0.0.1:" + strconv.Itoa(ep.edgePort)
	httpL, err := listen("HTTP API", opts.HTTPPort)
	if err != nil {
		edgeL.Close()
		return nil, err
	}
	httpSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, httpSrv)
	s.HTTPURL = "http://127.0.0.1:" + strconv.Itoa(httpL.Addr().(*net.TCPAddr).Port)
	httpSrv.Handler = s.ready.Wrap(ep)
	s.serve(httpSrv, httpL)
	return ep, nil
}

// connectEmulator starts moto (unless opts.AWSEndpoint names one) with its Lambda
// endpoint on the edge, sets the stack's AWS configs, and returns the emulator's URL.
func (s *Stack) connectEmulator(ctx context.Context, opts Options, ep *endpoints) (*url.URL, error) {
	if opts.AWSEndpoint != "" {
		s.EmulatorURL = opts.AWSEndpoint
	} else {
		var err error
		s.emu, err = emulator.Start(ctx, emulator.Options{LambdaEndpointPort: ep.edgePort, Log: opts.EmulatorLog})
		if err != nil {
			ep.edgeL.Close()
			if errors.Is(err, emulator.ErrNotInstalled) {
				return nil, fmt.Errorf("%w (or run `make tools-py`)", err)
			}
			return nil, err
		}
		s.EmulatorURL = s.emu.Endpoint
	}
	upstream, err := url.Parse(s.EmulatorURL)
	if err != nil {
		return nil, fmt.Errorf("aws endpoint %q: %w", s.EmulatorURL, err)
	}
	s.Config = emulator.Config(s.EmulatorURL)
	s.InternalConfig = emulator.Config(s.EdgeURL)
	s.InternalConfig.Credentials = credentials.NewStaticCredentialsProvider(edge.InternalAccessKeyID, "test", "")
	return upstream, nil
}

// serveEdge starts the edge in front of upstream, with the fault injector when
// opts.Faults is set and the transaction gate; from now on it serves, but only
// AWS-internal calls until the stack is ready. It returns the edge's Lambda API, wired
// later by startAsync, and the gate.
func (s *Stack) serveEdge(upstream *url.URL, opts Options, ep *endpoints) (*edge.InvokeAPI, *txGate) {
	lambdaAPI := &edge.InvokeAPI{}
	s.Edge = edge.New(upstream, lambdaAPI)
	s.Edge.Readiness = s.ready
	s.Calls = s.Edge.Counter
	if opts.Faults != nil {
		s.Faults = chaos.New(*opts.Faults)
		s.Edge.Use(s.Faults.Middleware)
	}
	gate := &txGate{}
	s.Edge.Use(gate.Middleware)
	ep.edgeSrv.Handler = s.Edge
	s.serve(ep.edgeSrv, ep.edgeL)
	if opts.listening != nil {
		opts.listening(s)
	}
	return lambdaAPI, gate
}

// provision starts the JWT issuer, creates the resources of the template and its nested
// stacks in the emulator, and prepares them: simulated-limit keys, the work queues,
// visibility timeouts and the catalog. The first provisioner is the root template's.
func (s *Stack) provision(ctx context.Context, t *template.Template, opts Options) ([]*provisioner, error) {
	if err := s.startIssuer(t, opts.Parameters, opts.LockDir); err != nil {
		return nil, err
	}
	c := newClients(s.Config)
	provs, err := provisionTemplates(ctx, c, t, opts)
	if err != nil {
		return nil, err
	}
	s.collect(provs)
	if err := s.limitKeys(provs); err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(s.Queues) {
		if !isDLQ(id) {
			s.work = append(s.work, s.Queues[id])
		}
	}
	if err := s.overrideVisibility(ctx, c, opts.VisibilityTimeout, provs); err != nil {
		return nil, err
	}
	if err := s.loadCatalog(ctx, c, provs[0], opts.Catalog); err != nil {
		return nil, err
	}
	return provs, nil
}

// startFunctions starts the function processes of every template (unless
// opts.SkipFunctions) and returns what invokes them.
func (s *Stack) startFunctions(ctx context.Context, opts Options, provs []*provisioner) (sources.Invoker, error) {
	for _, q := range provs {
		for _, id := range sortedKeys(q.functions) {
			s.specs = append(s.specs, q.functions[id])
		}
	}
	if opts.SkipFunctions {
		s.Notes = append(s.Notes, "functions not started (SkipFunctions)")
		return notStarted{}, nil
	}
	var err error
	s.runner, err = startRunner(ctx, s.specs, runnerOptions{Dir: opts.Dir, BuildDir: opts.BuildDir, Build: opts.Build,
		Endpoint: s.EdgeURL, PoolSize: opts.PoolSize, Output: opts.FunctionLog, Log: opts.Log, Faults: s.Faults})
	if err != nil {
		return nil, err
	}
	return s.runner, nil
}

// startAsync starts the asynchronous invocations (with each function's retry and
// destination settings) and wires the edge's Lambda API to them and to inv.
func (s *Stack) startAsync(runCtx context.Context, opts Options, inv sources.Invoker, ic *clients, lambdaAPI *edge.InvokeAPI) {
	configs := map[string]sources.AsyncConfig{}
	for _, f := range s.specs {
		configs[f.Name] = f.Async
	}
	s.async = &sources.Async{Invoker: inv, Sender: ic.sqs, Configs: configs, Log: opts.Log}
	s.async.Start(runCtx)
	lambdaAPI.Wire(inv, s.async, s.lambdaFunctions(s.specs, opts))
}

// startSources starts the event source mappings (SQS, Kinesis, DynamoDB streams) and the
// EventBridge rule targets of every template.
func (s *Stack) startSources(runCtx context.Context, opts Options, provs []*provisioner, inv sources.Invoker, ic *clients, gate *txGate) {
	d := &sources.Delivery{Queue: ic.sqs, Lambda: lambda.NewFromConfig(s.InternalConfig), Async: s.async,
		States: ic.sfn, Kinesis: ic.kinesis, Log: opts.Log, Duplicate: s.duplicate("eventbridge")}
	var targets []sources.Target
	for _, q := range provs {
		for _, m := range q.sqsMaps {
			m.Client, m.Invoker, m.Log = ic.sqs, inv, opts.Log
			m.Duplicate = s.duplicate("sqs")
			s.sources = append(s.sources, m)
			s.goRun(func() { m.Run(runCtx) })
		}
		targets = append(targets, q.targets...)
	}
	for _, q := range provs {
		for _, m := range q.kinMaps {
			m.Client, m.Invoker, m.Log = ic.kinesis, inv, opts.Log
			s.runStream(runCtx, m, &m.StreamConfig, "kinesis", m.Stream, ic, opts.Log)
		}
	}
	for _, q := range provs {
		for _, m := range q.ddbMaps {
			m.Client, m.Invoker, m.Log, m.ReadGate = ic.streams, inv, opts.Log, gate.Reader()
			s.runStream(runCtx, m, &m.StreamConfig, "dynamodb", m.StreamARN, ic, opts.Log)
		}
	}
	s.sources = append(s.sources, d)
	for _, tg := range targets {
		s.work = append(s.work, tg.QueueURL)
		s.goRun(func() { d.Run(runCtx, tg) })
	}
}

// serveAPI puts the HTTP API of the root template p (its routes to inv, its JWT
// authorizer, the fault injector's order learner) behind the HTTP endpoint.
func (s *Stack) serveAPI(t *template.Template, p *provisioner, inv sources.Invoker, ep *endpoints) error {
	httpAPI := httpapi.New(s.routes(t, p), inv)
	authz, err := s.jwtAuthorizer(p)
	if err != nil {
		return err
	}
	if authz != nil {
		httpAPI.Authorizer = authz
	}
	ep.setAPI(s.Faults.LearnOrders(httpAPI))
	return nil
}

// onAWSBehalf returns the on-failure destination d writing through the internal clients

// runStream runs a stream mapping (Kinesis, DynamoDB Streams) of kind with the stack's
// fault rules for kind, its on-failure destination on AWS's behalf, and settling.
func (s *Stack) runStream(ctx context.Context, m interface {
	busySource
	Run(context.Context) error
}, cfg *sources.StreamConfig, kind, stream string, ic *clients, log *slog.Logger) {
	cfg.Duplicate = s.duplicate(kind)
	cfg.Progress = s.Calls.Writes
	cfg.OnFailure = onAWSBehalf(cfg.OnFailure, ic)
	s.streams = append(s.streams, cfg)
	s.sources = append(s.sources, m)
	s.goRun(func() {
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("stream mapping stopped", "kind", kind, "stream", stream, "error", err)
		}
	})
}

// ic: AWS writes a mapping's on-failure records, not the function.
func onAWSBehalf(d sources.FailureDestination, ic *clients) sources.FailureDestination {
	switch d := d.(type) {
	case sources.SQSDestination:
		d.Client = ic.sqs
		return d
	case sources.S3Destination:
		d.Client = ic.s3
		return d
	}
	return d
}

// lambdaFunctions describes the functions for the edge's ListFunctions and GetFunction.
func (s *Stack) lambdaFunctions(specs []*FunctionSpec, opts Options) []edge.Function {
	out := make([]edge.Function, 0, len(specs))
	for _, f := range specs {
		out = append(out, edge.Function{Name: f.Name, ARN: f.ARN, Runtime: f.Runtime, Handler: f.Handler,
			Architectures: f.Architectures, MemoryMB: f.MemoryMB, Timeout: f.Timeout, Env: f.Env,
			CodeLocation: filepath.Join(opts.BuildDir, filepath.Base(f.Dir), "bootstrap")})
	}
	return out
}

func (s *Stack) goRun(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

func (s *Stack) serve(srv *http.Server, l net.Listener) {
	s.goRun(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "addr", l.Addr().String(), "error", err)
		}
	})
}

// notStarted answers every invoke when functions are not started.
type notStarted struct{}

func (notStarted) InvokeSync(context.Context, string, []byte) ([]byte, string, error) {
	return nil, "", errors.New("functions are not started in this local stack")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// routes maps the template's HTTP routes to function names.
func (s *Stack) routes(t *template.Template, p *provisioner) []httpapi.Route {
	var out []httpapi.Route
	for _, r := range t.HTTPRoutes() {
		name := s.Functions[r.Function]
		if name == "" {
			continue
		}
		out = append(out, httpapi.Route{Method: r.Method, Path: r.Path, Function: name})
	}
	return out
}

// limitKeys tells the simulated limits (chaos.Limits) each table's key attributes, from
// its KeySchema in its template, unless the spec names them.
func (s *Stack) limitKeys(provs []*provisioner) error {
	if s.Faults == nil {
		return nil
	}
	spec := s.Faults.Spec()
	if !spec.Limits.Enabled() || spec.Limits.Keys != nil {
		return nil
	}
	spec.Limits.Keys = map[string][]string{}
	for _, q := range provs {
		for _, id := range q.t.IDs("AWS::DynamoDB::Table") {
			ph := q.phys[id]
			if ph == nil || ph.Ref == "" {
				continue
			}
			props, err := q.props(id)
			if err != nil {
				return err
			}
			ks, _ := props["KeySchema"].([]any)
			for _, k := range ks {
				m, _ := k.(map[string]any)
				if attr := str(m, "AttributeName"); attr != "" {
					spec.Limits.Keys[ph.Ref] = append(spec.Limits.Keys[ph.Ref], attr)
				}
			}
		}
	}
	s.Faults.Set(spec)
	return nil
}

// collect records the resolved names of the templates: the root template's (provs[0]) by
// logical ID, the others' as "<stack>/<logical ID>".
func (s *Stack) collect(provs []*provisioner) {
	s.Tables, s.Queues, s.Functions, s.Outputs = map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	s.Buckets = map[string]string{}
	p := provs[0]
	for i, q := range provs {
		prefix := ""
		if i > 0 {
			prefix = q.stack + "/"
		}
		for id, res := range q.t.Resources {
			ph := q.phys[id]
			if ph == nil || ph.Ref == "" {
				continue
			}
			switch res.Type {
			case "AWS::DynamoDB::Table":
				s.Tables[prefix+id] = ph.Ref
			case "AWS::SQS::Queue":
				s.Queues[prefix+id] = ph.Ref
			case "AWS::Serverless::Function", "AWS::Lambda::Function":
				s.Functions[prefix+id] = ph.Ref
			}
			if i > 0 {
				continue
			}
			switch res.Type {
			case "AWS::Events::EventBus":
				s.Bus = ph.Ref
			case "AWS::Kinesis::Stream":
				s.Stream = ph.Ref
			case "AWS::SNS::Topic":
				s.Topic = ph.Ref
			case "AWS::S3::Bucket":
				s.Buckets[id] = ph.Ref
			case "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine":
				s.StateMachineARN = ph.Ref
			}
		}
	}
	for _, id := range sortedKeys(p.t.Outputs) {
		o := p.t.Outputs[id]
		if o.Condition != "" {
			if ok, err := p.r.condition(o.Condition); err != nil || !ok {
				continue
			}
		}
		if v, err := p.r.String(o.Value); err == nil {
			s.Outputs[id] = v
		}
	}
	// The data lake's bucket lives in a nested stack: find it through the functions' env.
	for _, f := range p.functions {
		if b := f.Env["DATA_LAKE_BUCKET"]; b != "" && s.Bucket == "" {
			s.Bucket = b
		}
	}

	s.Notes = append(s.Notes, *p.notes...)
}

// Catalog is the demo catalog file (local/catalog.json).
type Catalog struct {
	Items []inventory.Item `json:"items"`
}

// ReadCatalog reads a catalog file (inventory.ParseCatalog).
func ReadCatalog(path string) (Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	items, err := inventory.ParseCatalog(b)
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog %s: %w", path, err)
	}
	return Catalog{Items: items}, nil
}

// loadCatalog puts the demo catalog into the table the functions know as INVENTORY_TABLE.
func (s *Stack) loadCatalog(ctx context.Context, c *clients, p *provisioner, path string) error {
	if path == "-" {
		return nil
	}
	table := ""
	for _, f := range p.functions {
		if v := f.Env["INVENTORY_TABLE"]; v != "" {
			table = v
		}
	}
	if table == "" {
		s.Notes = append(s.Notes, "no function has INVENTORY_TABLE: catalog not loaded")
		return nil
	}
	cat, err := ReadCatalog(path)
	if err != nil {
		return err
	}
	store := dynamo.NewInventoryStore(c.ddb, table)
	for _, it := range cat.Items {
		if err := store.Put(ctx, it); err != nil {
			return fmt.Errorf("load catalog into %s: %w", table, err)
		}
	}
	return nil
}

// Close stops the event sources, the servers, every function process and the emulator,
// and releases the lock. It is idempotent.
func (s *Stack) Close() error {
	var errs []error
	s.closeMu.Do(func() {
		// The event sources stop first: their calls in flight through the edge (a long
		// poll waits up to 20 s) end with them, so the servers then shut down at once
		// instead of waiting those calls out.
		if s.cancel != nil {
			s.cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.log.Warn("event sources did not stop within 10s")
		}
		if s.runner != nil {
			if err := s.runner.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.async != nil {
			s.async.Wait()
		}
		if s.emu != nil {
			s.emu.Stop()
		}
		if s.Issuer != nil {
			_ = s.Issuer.Close()
			jwtauth.Remove(s.stateDir)
		}
		s.releaseLock()
	})
	return errors.Join(errs...)
}
