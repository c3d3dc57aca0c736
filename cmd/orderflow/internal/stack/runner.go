package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runner runs the stack's functions: InvokeSync is the Invoker the event sources, the
// edge and the HTTP API use.
type Runner interface {
	InvokeSync(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
	// Close stops every function process and returns once they have exited.
	Close() error
}

type runnerOptions struct {
	Dir, BuildDir string
	Build         bool
	Endpoint      string
	PoolSize      int
	Output        io.Writer
	Log           *slog.Logger
}

// startRunner is the constructor Up uses; a variable so the function host can be swapped.
var startRunner = startProcessRunner

// processRunner runs each function as PoolSize `bootstrap` processes, each behind its own
// Lambda Runtime API listener on 127.0.0.1, taking invocations from the function's queue.
type processRunner struct {
	fns    map[string]*fnPool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result   // receives the one result
	fin      chan struct{} // closed once there is a result
	once     sync.Once
}

func (iv *invocation) finish(r result) {
	iv.once.Do(func() {
		iv.done <- r
		close(iv.fin)
	})
}

type result struct {
	out   []byte
	fnErr string
}

type fnPool struct {
	spec  *FunctionSpec
	bin   string
	queue chan *invocation
	opts  runnerOptions
	seq   atomic.Int64
}

func startProcessRunner(ctx context.Context, specs []*FunctionSpec, opts runnerOptions) (Runner, error) {
	if opts.Build {
		if err := buildFunctions(ctx, specs, opts); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &processRunner{fns: map[string]*fnPool{}, ctx: rctx, cancel: cancel}
	for _, f := range specs {
		bin, err := filepath.Abs(filepath.Join(opts.BuildDir, filepath.Base(f.Dir), "bootstrap"))
		if err != nil || !exists(bin) {
			cancel()
			return nil, fmt.Errorf("function %s: %s is missing: run `make build-local` (or pass --build)", f.LogicalID, bin)
		}
		r.fns[f.Name] = &fnPool{spec: f, bin: bin, queue: make(chan *invocation), opts: opts}
	}
	for _, p := range r.fns {
		for i := 0; i < max(1, opts.PoolSize); i++ {
			inst, err := newInstance(p, i)
			if err != nil {
				r.Close()
				return nil, err
			}
			r.wg.Add(1)
			go func() { defer r.wg.Done(); inst.supervise(rctx) }()
		}
	}
	return r, nil
}

// buildFunctions builds every function for the host, as `make build-local` does.
func buildFunctions(ctx context.Context, specs []*FunctionSpec, opts runnerOptions) error {
	for _, f := range specs {
		out := filepath.Join(opts.BuildDir, filepath.Base(f.Dir), "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, "./"+filepath.ToSlash(f.Dir))
		cmd.Dir = opts.Dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", f.Dir, err, b)
		}
	}
	return nil
}

// queueWait bounds how long an invocation waits for a free instance.
const queueWait = 30 * time.Second

// InvokeSync queues an invocation for the function and waits for its answer, the
// function's timeout, or ctx.
func (r *processRunner) InvokeSync(ctx context.Context, function string, payload []byte) ([]byte, string, error) {
	p, ok := r.fns[function]
	if !ok {
		return nil, "", fmt.Errorf("function %s not found", function)
	}
	iv := &invocation{id: fmt.Sprintf("%s-%d-%d", function, time.Now().UnixNano(), p.seq.Add(1)), payload: payload,
		deadline: time.Now().Add(p.spec.Timeout), done: make(chan result, 1), fin: make(chan struct{})}
	// Every instance busy for queueWait: Lambda would throttle.
	wait := time.NewTimer(queueWait)
	defer wait.Stop()
	select {
	case p.queue <- iv:
	case <-wait.C:
		return nil, "", fmt.Errorf("function %s: no instance free for %s (TooManyRequestsException)", function, queueWait)
	case <-ctx.Done():
		return nil, "", ctx.Err()
	case <-r.ctx.Done():
		return nil, "", errors.New("local stack is stopping")
	}
	select {
	case res := <-iv.done:
		return res.out, res.fnErr, nil
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// Close stops every instance and waits for the processes to exit.
func (r *processRunner) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// instance is one bootstrap process and its Runtime API.
type instance struct {
	pool *fnPool
	n    int
	l    net.Listener
	srv  *http.Server

	mu      sync.Mutex
	current *invocation
	proc    *os.Process
}

func newInstance(p *fnPool, n int) (*instance, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime api for %s: %w", p.spec.Name, err)
	}
	in := &instance{pool: p, n: n, l: l}
	in.srv = &http.Server{Handler: in, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.srv.Serve(l) }()
	return in, nil
}

// supervise runs the process, restarting it when it exits, until ctx ends.
func (in *instance) supervise(ctx context.Context) {
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = in.srv.Shutdown(sctx)
		cancel()
		_ = in.srv.Close()
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := in.run(ctx)
		in.failCurrent(`{"errorType":"Runtime.ExitError","errorMessage":"RequestId: the function's process exited: ` + strings.ReplaceAll(fmt.Sprint(err), `"`, `'`) + `"}`)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		in.pool.opts.Log.Warn("function process exited; restarting", "function", in.pool.spec.Name, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (in *instance) env() []string {
	f := in.pool.spec
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"AWS_LAMBDA_RUNTIME_API=" + in.l.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=local/" + strconv.Itoa(in.n),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(in.pool.bin),
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL=" + in.pool.opts.Endpoint,
	}
	for _, k := range sortedKeys(f.Env) {
		env = append(env, k+"="+f.Env[k])
	}
	return env
}

func (in *instance) run(ctx context.Context) error {
	cmd := exec.Command(in.pool.bin)
	cmd.Env = in.env()
	cmd.Dir = filepath.Dir(in.pool.bin)
	w := &prefixWriter{w: in.pool.opts.Output, prefix: "[" + in.pool.spec.Name + "] "}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	in.mu.Lock()
	in.proc = cmd.Process
	in.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		w.Flush()
		return err
	case <-ctx.Done():
		killGroup(cmd.Process.Pid)
		err := <-exited
		w.Flush()
		return err
	}
}

// kill stops the process (a timed-out invoke); supervise restarts it.
func (in *instance) kill() {
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if p != nil {
		killGroup(p.Pid)
	}
}

func (in *instance) failCurrent(body string) {
	in.mu.Lock()
	iv := in.current
	in.current = nil
	in.mu.Unlock()
	if iv != nil {
		iv.finish(result{out: []byte(body), fnErr: "Unhandled"})
	}
}

// ServeHTTP is the Lambda Runtime API (2018-06-01) for this instance.
func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/"
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case path == "invocation/next" && r.Method == http.MethodGet:
		in.next(w, r)
	case path == "init/error" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		in.pool.opts.Log.Error("function init failed", "function", in.pool.spec.Name, "error", string(body))
		w.WriteHeader(http.StatusAccepted)
	case strings.HasPrefix(path, "invocation/") && r.Method == http.MethodPost:
		rest := strings.TrimPrefix(path, "invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		iv := in.current
		if iv != nil && iv.id == id {
			in.current = nil
		} else {
			iv = nil
		}
		in.mu.Unlock()
		if iv == nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errorType":"InvalidRequestID","errorMessage":"unknown or finished request id"}`)
			return
		}
		switch kind {
		case "response":
			if len(body) > 6<<20 {
				iv.finish(result{out: []byte(`{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes)."}`), fnErr: "Unhandled"})
			} else {
				iv.finish(result{out: body})
			}
		case "error":
			iv.finish(result{out: body, fnErr: "Unhandled"})
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	default:
		http.NotFound(w, r)
	}
}

func (in *instance) next(w http.ResponseWriter, r *http.Request) {
	var iv *invocation
	select {
	case iv = <-in.pool.queue:
	case <-r.Context().Done():
		return
	}
	in.mu.Lock()
	in.current = iv
	in.mu.Unlock()
	f := in.pool.spec
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", iv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(iv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", f.ARN)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(iv.payload)
	// Enforce the function's timeout as Lambda does: the instance is killed.
	go func() {
		t := time.NewTimer(time.Until(iv.deadline))
		defer t.Stop()
		select {
		case <-t.C:
			in.mu.Lock()
			still := in.current == iv
			in.mu.Unlock()
			if still {
				in.failCurrent(fmt.Sprintf(`{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after %.2f seconds"}`, f.Timeout.Seconds()))
				in.kill()
			}
		case <-iv.fin:
		}
	}()
}

// prefixWriter writes whole lines to w, each with a prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf[:i+1]))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Flush writes a last partial line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = nil
	}
}
