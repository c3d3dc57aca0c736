// Package lambdahost runs Lambda functions' real `bootstrap` binaries as child processes
// behind a Lambda Runtime API of its own, for the local stack and for cold-start
// measurement. Unlike aws-lambda-rie it serves concurrent invokes: each function has a
// pool of processes, each with its own Runtime API listener on 127.0.0.1, started on
// first use (a cold start) and reused (warm). Timeouts and crashes are reported as AWS
// reports them (Sandbox.Timedout, Runtime.ExitError) and the process is replaced.
//
// Host also serves the Lambda Invoke API (ServeHTTP) and satisfies the local stack's
// InvokeSync interface.
package lambdahost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/retry"
)

// ErrFunctionNotFound is returned for a function name the Host does not know.
var ErrFunctionNotFound = errors.New("function not found")

// ErrClosed is returned once the Host is closed.
var ErrClosed = errors.New("lambda host closed")

// Result is the outcome of one invoke, as the Lambda Invoke API reports it.
type Result struct {
	// Payload is the function's response, or the error document on a function error.
	Payload []byte
	// FunctionError is "Unhandled" on a function error, "" otherwise: the
	// X-Amz-Function-Error header.
	FunctionError string
	// ErrorType is the errorType of a function error: the Go type name of the error the
	// handler returned, or Sandbox.Timedout, Runtime.ExitError, Function.ResponseSizeTooLarge.
	ErrorType string
	// Duration is the invoke phase: from handing the event to the runtime to its answer.
	Duration time.Duration
	// InitDuration is, for a cold start, process start to the runtime's first /next.
	InitDuration time.Duration
	// Cold is true when the invoke started a new process.
	Cold bool
	// RequestID is the invoke's request id (Lambda-Runtime-Aws-Request-Id).
	RequestID string
}

// Options configure a Host; the zero value is usable.
type Options struct {
	// Region and AccountID make the functions' ARNs; defaults us-east-1 and 123456789012.
	// A function whose Env sets AWS_REGION uses that region.
	Region, AccountID string
	// OnAsync, when set, receives every asynchronous (Event) invoke and the Host does
	// nothing else with it. It must not block.
	OnAsync func(fn string, payload []byte)
	// AsyncRetries is how often the Host retries a failed asynchronous invoke when OnAsync
	// is nil: 0 means AWS's default of 2, a negative value means none.
	AsyncRetries int
	// AsyncRetryDelay is the wait before the first retry, doubled for each next one;
	// default 1 s (AWS waits about 1 and 2 minutes).
	AsyncRetryDelay time.Duration
	// OnAsyncFailure receives an asynchronous invoke that failed every attempt (err is
	// non-nil when the invoke could not run at all). When nil the failure is written to
	// the function's Stderr.
	OnAsyncFailure func(fn string, payload []byte, res Result, err error)
	// Kill, when set, is asked before each invoke is handed to its process (with the
	// request id and the payload, so the decision can depend on what is invoked) whether
	// the process is to be killed during it (fault injection: a crash mid-invoke). Whoever
	// decides kills it when its moment comes, with KillProcess (for example at one of the
	// invoke's AWS calls: ProcessKeys); a process that answers first is killed as it
	// answers and its answer is lost, so every kill decided lands. OnKill, when set, is
	// told of each kill at an answer. Both nil by default.
	Kill   func(fn, requestID string, payload []byte) bool
	OnKill func(fn, requestID string)
	// ProcessKeys gives every process its own AWS_ACCESS_KEY_ID (ProcessKeyPrefix and a
	// number; the secret key stays the function's), so that an AWS endpoint in front of
	// the emulator can tell which process, and through Running which invocation, made a
	// call: the base of deterministic crash points (KillProcess after a given call).
	ProcessKeys bool
}

// ProcessKeyPrefix starts every access key id Options.ProcessKeys gives a process.
const ProcessKeyPrefix = "OFLH"

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.AsyncRetries == 0 {
		o.AsyncRetries = 2
	}
	if o.AsyncRetries < 0 {
		o.AsyncRetries = 0
	}
	if o.AsyncRetryDelay <= 0 {
		o.AsyncRetryDelay = time.Second
	}
}

// Host runs pools of function processes. Its methods are safe for concurrent use.
type Host struct {
	opts    Options
	ctx     context.Context // cancelled by Close: ends async retries
	cancel  context.CancelFunc
	closing chan struct{}
	outMu   sync.Mutex // serialises the processes' output lines

	mu     sync.Mutex
	pools  map[string]*pool
	live   map[*proc]struct{}
	byKey  map[string]*proc // live processes by access key id (Options.ProcessKeys)
	keys   int              // access key ids given out
	pids   []int            // every process group ever started, checked by Close
	closed bool
	work   sync.WaitGroup // invoke and async goroutines
}

// New returns a Host with no functions.
func New(opts Options) *Host {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Host{opts: opts, ctx: ctx, cancel: cancel, closing: make(chan struct{}),
		pools: map[string]*pool{}, live: map[*proc]struct{}{}, byKey: map[string]*proc{}}
}

// Register adds a function. It returns Validate's error, an error for a name already
// registered, or ErrClosed. No process starts until the first invoke.
func (h *Host) Register(fn Function) error {
	if err := fn.Validate(); err != nil {
		return err
	}
	fn.setDefaults()
	region := h.opts.Region
	if r := fn.Env["AWS_REGION"]; r != "" {
		region = r
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if _, ok := h.pools[fn.Name]; ok {
		return fmt.Errorf("function %s is already registered", fn.Name)
	}
	h.pools[fn.Name] = &pool{
		h: h, fn: fn, region: region,
		arn:  fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, h.opts.AccountID, fn.Name),
		idle: make(chan *proc, fn.Concurrency),
		sem:  make(chan struct{}, fn.Concurrency),
	}
	return nil
}

// ARN returns a registered function's ARN, or "" for an unknown one.
func (h *Host) ARN(name string) string {
	if pl, err := h.pool(name); err == nil {
		return pl.arn
	}
	return ""
}

func (h *Host) pool(name string) (*pool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	pl, ok := h.pools[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	return pl, nil
}

// track counts a goroutine Close must wait for; false once the Host is closed.
func (h *Host) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.work.Add(1)
	return true
}

// Invoke runs one synchronous invoke of function name: it waits for a free process of
// the pool (starting one when the pool has room), hands it the payload and waits for
// the answer or the function's timeout. A function error, a timeout and a crash are a
// Result with FunctionError "Unhandled", not an error. It returns ErrFunctionNotFound,
// ErrClosed, ctx's error while waiting, or the error of starting the process.
func (h *Host) Invoke(ctx context.Context, name string, payload []byte) (Result, error) {
	pl, err := h.pool(name)
	if err != nil {
		return Result{}, err
	}
	// One invocation, one request id: a retry below is of an invoke no process was handed.
	inv := newInvocation(payload, pl.arn)
	for attempt := 0; ; attempt++ {
		p, cold, err := pl.acquire(ctx)
		if err != nil {
			return Result{}, err
		}
		if !h.track() {
			pl.discard(p)
			return Result{}, ErrClosed
		}
		ch := make(chan outcome, 1)
		go func() {
			defer h.work.Done()
			o := pl.run(p, cold, inv)
			if o.healthy {
				pl.release(p)
			} else {
				pl.discard(p)
			}
			ch <- o
		}()
		select {
		case o := <-ch:
			if o.retry && attempt < 2 {
				continue
			}
			return o.res, o.err
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}

// InvokeSync is Invoke in the shape of the local stack's Invoker interfaces.
func (h *Host) InvokeSync(ctx context.Context, name string, payload []byte) ([]byte, string, error) {
	res, err := h.Invoke(ctx, name, payload)
	return res.Payload, res.FunctionError, err
}

// InvokeAsync queues an asynchronous (Event) invoke: to Options.OnAsync when set, else
// to a background invoke retried as Options say. It returns ErrFunctionNotFound or
// ErrClosed; the invoke's own outcome goes to OnAsyncFailure.
func (h *Host) InvokeAsync(name string, payload []byte) error {
	pl, err := h.pool(name)
	if err != nil {
		return err
	}
	if h.opts.OnAsync != nil {
		h.opts.OnAsync(name, payload)
		return nil
	}
	if !h.track() {
		return ErrClosed
	}
	payload = append([]byte(nil), payload...)
	go func() {
		defer h.work.Done()
		h.runAsync(pl, payload)
	}()
	return nil
}

func (h *Host) runAsync(pl *pool, payload []byte) {
	var res Result
	var err error
	for attempt := 0; attempt <= h.opts.AsyncRetries; attempt++ {
		if attempt > 0 && retry.Sleep(h.ctx, retry.Delay(attempt, h.opts.AsyncRetryDelay, time.Hour)) != nil {
			return
		}
		res, err = h.Invoke(h.ctx, pl.fn.Name, payload)
		if errors.Is(err, ErrClosed) || h.ctx.Err() != nil {
			return
		}
		if err == nil && res.FunctionError == "" {
			return
		}
	}
	if h.opts.OnAsyncFailure != nil {
		h.opts.OnAsyncFailure(pl.fn.Name, payload, res, err)
		return
	}
	reason := res.ErrorType
	if err != nil {
		reason = err.Error()
	}
	w := &prefixWriter{mu: &h.outMu, w: pl.fn.Stderr, prefix: []byte("[" + pl.fn.Name + "] ")}
	_, _ = fmt.Fprintf(w, "async invoke %s failed after %d attempts: %s\n", res.RequestID, h.opts.AsyncRetries+1, reason)
}

// ColdStart starts a fresh process of function name outside its pool, sends it payload,
// and returns the time from process start to the first successful response; the process
// is then stopped. It returns Invoke's errors, and an error for a function error.
func (h *Host) ColdStart(ctx context.Context, name string, payload []byte) (time.Duration, error) {
	pl, err := h.pool(name)
	if err != nil {
		return 0, err
	}
	p, err := pl.start()
	if err != nil {
		return 0, err
	}
	defer func() {
		p.stop()
		pl.forget(p)
	}()
	inv := newInvocation(payload, pl.arn)
	ch := make(chan outcome, 1)
	go func() { ch <- pl.run(p, true, inv) }()
	var o outcome
	select {
	case o = <-ch:
	case <-ctx.Done():
		p.stop()
		<-ch
		return 0, ctx.Err()
	}
	if o.err != nil {
		return 0, o.err
	}
	if o.res.FunctionError != "" {
		return 0, fmt.Errorf("cold start %s: %s: %s", name, o.res.ErrorType, o.res.Payload)
	}
	return o.answeredAt.Sub(p.started), nil
}

// Close stops every process (its whole process group) and Runtime API listener, waits
// for them and for background invokes, and checks that no process is left. Invokes in
// flight return ErrClosed. It returns an error naming a process group still alive.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.closing)
	h.cancel()
	procs := make([]*proc, 0, len(h.live))
	for p := range h.live {
		procs = append(procs, p)
	}
	pids := h.pids
	h.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	h.work.Wait()
	h.mu.Lock()
	clear(h.live)
	h.mu.Unlock()
	var left []int
	for _, pid := range pids {
		if groupAlive(pid) {
			killGroup(pid)
			left = append(left, pid)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("lambda host: process groups %v were still alive at close (killed)", left)
	}
	return nil
}

// outcome is the end of one invoke on one process.
type outcome struct {
	res        Result
	err        error
	healthy    bool // the process can take the next invoke
	retry      bool // the process was gone before the invoke reached it: use another
	answeredAt time.Time
}

// pool is one function's processes.
type pool struct {
	h      *Host
	fn     Function
	region string
	arn    string
	idle   chan *proc    // warm processes waiting for an invoke
	sem    chan struct{} // one token per process of the pool

	seqMu sync.Mutex
	seq   int
}

// acquire returns a warm process, or starts a new one (cold) when the pool has room,
// or waits for one to be released.
func (pl *pool) acquire(ctx context.Context) (*proc, bool, error) {
	for {
		select {
		case p := <-pl.idle:
			if p.alive() {
				return p, false, nil
			}
			pl.discard(p)
			continue
		default:
		}
		select {
		case p := <-pl.idle:
			if p.alive() {
				return p, false, nil
			}
			pl.discard(p)
		case pl.sem <- struct{}{}:
			p, err := pl.start()
			if err != nil {
				<-pl.sem
				return nil, false, err
			}
			return p, true, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-pl.h.closing:
			return nil, false, ErrClosed
		}
	}
}

// start starts a process and registers it with the Host so that Close stops it.
func (pl *pool) start() (*proc, error) {
	pl.seqMu.Lock()
	pl.seq++
	stream := fmt.Sprintf("%s/[$LATEST]%s-%d", time.Now().UTC().Format("2006/01/02"), "local", pl.seq)
	pl.seqMu.Unlock()
	h := pl.h
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	key := ""
	if h.opts.ProcessKeys {
		h.keys++
		key = fmt.Sprintf("%s%012d", ProcessKeyPrefix, h.keys)
	}
	// Started under the lock so that Close cannot miss it.
	p, err := startProc(&pl.fn, pl.region, stream, key, &h.outMu)
	if err == nil {
		h.live[p] = struct{}{}
		h.pids = append(h.pids, p.cmd.Process.Pid)
		if key != "" {
			h.byKey[key] = p
		}
	}
	h.mu.Unlock()
	return p, err
}

// Running is what a process is doing: its function and the request id of the invoke
// it is running ("" between invokes).
type Running struct {
	Function  string
	RequestID string
}

// Running returns what the process with access key id key (Options.ProcessKeys) is
// running, and false for a key of no live process.
func (h *Host) Running(key string) (Running, bool) {
	h.mu.Lock()
	p, ok := h.byKey[key]
	h.mu.Unlock()
	if !ok {
		return Running{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Running{Function: p.fn.Name}
	if p.current != nil {
		r.RequestID = p.current.id
	}
	return r, true
}

// KillProcess kills the process with access key id key (its whole process group) and
// returns once it has exited, so that it cannot act on anything that happens after: its
// invoke ends as a crash (Runtime.ExitError) and the process is replaced. It returns
// false for a key of no live process.
func (h *Host) KillProcess(key string) bool {
	h.mu.Lock()
	p, ok := h.byKey[key]
	h.mu.Unlock()
	if !ok {
		return false
	}
	killGroup(p.cmd.Process.Pid)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
	return true
}

// release returns a healthy process to the idle set.
func (pl *pool) release(p *proc) {
	pl.idle <- p // never blocks: idle holds as many as the pool has tokens
}

// discard stops a process and frees its token.
func (pl *pool) discard(p *proc) {
	p.stop()
	pl.forget(p)
	<-pl.sem
}

func (pl *pool) forget(p *proc) {
	pl.h.mu.Lock()
	delete(pl.h.live, p)
	if p.key != "" {
		delete(pl.h.byKey, p.key)
	}
	pl.h.mu.Unlock()
}

// run hands inv to p and waits for the answer, enforcing the init and function timeouts.
func (pl *pool) run(p *proc, cold bool, inv *invocation) outcome {
	o := outcome{res: Result{RequestID: inv.id, Cold: cold}}
	if cold {
		t := time.NewTimer(initTimeout)
		select {
		case <-p.ready:
			t.Stop()
			o.res.InitDuration = p.readyAt.Sub(p.started)
		case <-p.exited:
			t.Stop()
			return pl.crashed(p, inv, o)
		case <-t.C:
			return pl.timedOut(inv, o, initTimeout)
		case <-p.stopping:
			t.Stop()
			o.err = ErrClosed
			return o
		}
	}
	timeout := pl.fn.Timeout
	start := time.Now()
	inv.deadline = start.Add(timeout)
	t := time.NewTimer(timeout)
	defer t.Stop()
	// Decided before the hand-over: whoever decides may kill at the process's first call.
	kill := pl.h.opts.Kill != nil && pl.h.opts.Kill(pl.fn.Name, inv.id, inv.payload)
	select {
	case p.pending <- inv:
	case <-p.exited:
		if !cold {
			// A warm process that exited between invokes (a panic exits after reporting).
			o.retry = true
			o.err = fmt.Errorf("function %s: process exited before the invoke", pl.fn.Name)
			return o
		}
		return pl.crashed(p, inv, o)
	case <-t.C:
		return pl.timedOut(inv, o, timeout)
	case <-p.stopping:
		o.err = ErrClosed
		return o
	}
	var rep reply
	select {
	case rep = <-inv.done:
		if kill { // killed as it answers: the answer is lost
			killGroup(p.cmd.Process.Pid)
			if pl.h.opts.OnKill != nil {
				pl.h.opts.OnKill(pl.fn.Name, inv.id)
			}
			o.res.Duration = time.Since(start)
			<-p.exited // SIGKILL: reaped at once (cmd.WaitDelay bounds the pipes)
			return pl.crashed(p, inv, o)
		}
	case <-p.exited:
		select {
		case rep = <-inv.done: // answered, then exited: the answer counts
		default:
			o.res.Duration = time.Since(start)
			return pl.crashed(p, inv, o)
		}
	case <-t.C:
		return pl.timedOut(inv, o, timeout)
	case <-p.stopping:
		o.err = ErrClosed
		return o
	}
	o.res.Duration = rep.at.Sub(start)
	o.answeredAt = rep.at
	o.res.Payload = rep.payload
	if rep.errorType != "" {
		o.res.FunctionError = "Unhandled"
		o.res.ErrorType = rep.errorType
	}
	o.healthy = true
	return o
}

func (pl *pool) timedOut(inv *invocation, o outcome, after time.Duration) outcome {
	o.res.FunctionError = "Unhandled"
	o.res.ErrorType = "Sandbox.Timedout"
	o.res.Payload = errorPayload(o.res.ErrorType, fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, after.Seconds()))
	o.res.Duration = after
	return o
}

// crashed reports a process that exited mid-invoke or during init: the runtime's
// init error when it posted one, else Runtime.ExitError.
func (pl *pool) crashed(p *proc, inv *invocation, o outcome) outcome {
	o.res.FunctionError = "Unhandled"
	p.mu.Lock()
	initErr := p.initErr
	p.mu.Unlock()
	if initErr != nil {
		o.res.Payload = initErr
		o.res.ErrorType = errorTypeOf(initErr, "Runtime.Unknown")
		return o
	}
	o.res.ErrorType = "Runtime.ExitError"
	o.res.Payload = errorPayload(o.res.ErrorType, fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.id, p.exitErr))
	return o
}
