package lambdahost

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// initTimeout is how long a new process may take to ask for its first invoke
	// (AWS's 10 s init phase).
	initTimeout = 10 * time.Second
	// maxResponse is the largest response payload (6 MB, AWS's limit for synchronous invokes).
	maxResponse = 6 << 20
	// sigtermGrace is how long a process that registered an extension (aws-lambda-go's
	// WithEnableSIGTERM does) gets between SIGTERM and SIGKILL at shutdown.
	sigtermGrace = 500 * time.Millisecond
)

// invocation is one invoke handed to a process.
type invocation struct {
	id       string
	payload  []byte
	arn      string
	traceID  string
	deadline time.Time
	done     chan reply // buffered 1: the one answer of the runtime
}

// reply is what the runtime posted for an invocation.
type reply struct {
	payload   []byte
	errorType string // "" on success
	at        time.Time
}

func newInvocation(payload []byte, arn string) *invocation {
	return &invocation{id: newRequestID(), payload: payload, arn: arn, traceID: newTraceID(), done: make(chan reply, 1)}
}

// proc is one bootstrap process and its own Runtime API server.
type proc struct {
	fn      *Function
	key     string // its own AWS_ACCESS_KEY_ID, "" when it has the function's
	cmd     *exec.Cmd
	srv     *http.Server
	ln      net.Listener
	started time.Time

	pending   chan *invocation // unbuffered: a send succeeds when the runtime asks for /next
	ready     chan struct{}    // closed at the first /next: init is over
	readyAt   time.Time
	readyOnce sync.Once
	stopping  chan struct{} // closed when the host stops the process
	stopOnce  sync.Once
	exited    chan struct{} // closed once the process has exited and been reaped
	exitErr   error
	served    chan struct{} // closed when the Runtime API server has returned
	extension atomic.Bool   // the runtime registered an extension: SIGTERM before SIGKILL

	mu      sync.Mutex
	current *invocation
	initErr []byte
}

// startProc starts fn's bootstrap behind a new Runtime API listener on 127.0.0.1, with
// key as its AWS_ACCESS_KEY_ID when not empty.
func startProc(fn *Function, region, logStream, key string, out *sync.Mutex) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime api for %s: %w", fn.Name, err)
	}
	p := &proc{
		fn:       fn,
		key:      key,
		ln:       ln,
		pending:  make(chan *invocation),
		ready:    make(chan struct{}),
		stopping: make(chan struct{}),
		exited:   make(chan struct{}),
		served:   make(chan struct{}),
	}
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(ln)
	}()

	prefix := []byte("[" + fn.Name + "] ")
	stdout := &prefixWriter{mu: out, w: fn.Stdout, prefix: prefix}
	stderr := &prefixWriter{mu: out, w: fn.Stderr, prefix: prefix}
	cmd := exec.Command(fn.Path)
	cmd.Dir = filepath.Dir(fn.Path)
	cmd.Env = fn.environ(region, ln.Addr().String(), logStream)
	if key != "" {
		cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+key) // the last value of a name wins
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild that keeps the output pipes open must not hang Wait.
	cmd.WaitDelay = time.Second
	p.cmd = cmd
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = p.srv.Close()
		<-p.served
		return nil, fmt.Errorf("start %s: %w", fn.Name, err)
	}
	go func() {
		p.exitErr = cmd.Wait()
		stdout.flush()
		stderr.flush()
		close(p.exited)
	}()
	return p, nil
}

// alive reports whether the process can still take an invoke.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	case <-p.stopping:
		return false
	default:
		return true
	}
}

// stop kills the process group and the Runtime API server, and waits for both. A process
// that registered an extension gets SIGTERM and a short grace first, as on AWS.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		close(p.stopping)
		pid := p.cmd.Process.Pid
		if p.extension.Load() {
			termGroup(pid)
			t := time.NewTimer(sigtermGrace)
			select {
			case <-p.exited:
			case <-t.C:
			}
			t.Stop()
		}
		killGroup(pid)
		<-p.exited
		_ = p.srv.Close()
		<-p.served
	})
	<-p.served
}

// take returns the current invocation if its id is id, and clears it: an invocation is
// answered once.
func (p *proc) take(id string) *invocation {
	p.mu.Lock()
	defer p.mu.Unlock()
	inv := p.current
	if inv == nil || inv.id != id {
		return nil
	}
	p.current = nil
	return inv
}

func (p *proc) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", p.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", p.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", p.invokeError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", p.initError)
	mux.HandleFunc("POST /2020-01-01/extension/register", p.registerExtension)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", p.extensionNext)
	return mux
}

// next blocks until an invoke is handed to this process, then sends it with the headers
// aws-lambda-go reads.
func (p *proc) next(w http.ResponseWriter, r *http.Request) {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
	})
	var inv *invocation
	select {
	case inv = <-p.pending:
	case <-p.stopping:
		// The process is about to be killed; leave it waiting, as AWS does.
		<-r.Context().Done()
		return
	case <-r.Context().Done():
		return
	}
	p.mu.Lock()
	p.current = inv
	p.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
	h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(inv.payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

func (p *proc) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	inv := p.take(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id")
		return
	}
	rep := reply{payload: body, at: time.Now()}
	switch {
	case r.Trailer.Get("Lambda-Runtime-Function-Error-Type") != "":
		// aws-lambda-go reports a response reader that failed mid-stream in trailers.
		rep.errorType = r.Trailer.Get("Lambda-Runtime-Function-Error-Type")
		rep.payload, _ = base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		if len(rep.payload) == 0 {
			rep.payload = errorPayload(rep.errorType, "the function's response stream failed")
		}
	case len(body) > maxResponse:
		rep.errorType = "Function.ResponseSizeTooLarge"
		rep.payload = errorPayload(rep.errorType, fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponse))
	}
	inv.done <- rep
	accepted(w)
}

func (p *proc) invokeError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	inv := p.take(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id")
		return
	}
	typ := errorTypeOf(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	inv.done <- reply{payload: body, errorType: typ, at: time.Now()}
	accepted(w)
}

func (p *proc) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxResponse))
	if len(body) == 0 {
		body = errorPayload(r.Header.Get("Lambda-Runtime-Function-Error-Type"), "init error")
	}
	p.mu.Lock()
	p.initErr = body
	p.mu.Unlock()
	accepted(w)
}

// registerExtension serves the Extensions API register call aws-lambda-go makes for
// WithEnableSIGTERM: it asks for no events, only for SIGTERM at shutdown.
func (p *proc) registerExtension(w http.ResponseWriter, r *http.Request) {
	p.extension.Store(true)
	w.Header().Set("Lambda-Extension-Identifier", newRequestID())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"functionName": p.fn.Name, "functionVersion": "$LATEST", "handler": "bootstrap",
	})
}

// extensionNext never answers: an extension that registered for no events waits forever.
func (p *proc) extensionNext(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorPayload(typ, msg))
}

// errorPayload is the {errorMessage, errorType} body Lambda returns for a function error.
func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType,omitempty"`
	}{msg, typ})
	return b
}

// errorTypeOf reads errorType from an error body; fallback when it has none.
func errorTypeOf(body []byte, fallback string) string {
	var e struct {
		Type string `json:"errorType"`
	}
	if json.Unmarshal(body, &e) == nil && e.Type != "" {
		return e.Type
	}
	if fallback != "" {
		return fallback
	}
	return "Unhandled"
}

// newRequestID is a random UUID (version 4), the form of Lambda request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID is an X-Ray trace header with a fresh root, not sampled.
func newTraceID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}
