// Package emulator runs the AWS API emulator (moto server) as a child process
// for integration tests and the local stack, and builds the aws.Config that
// points the SDK clients at it.
//
// The emulator is moto_server started through tools/moto/moto_server_shim.py,
// which fixes known moto bugs (see the shim's header). Step Functions
// executions run for real: Start enables them through /moto-api/config.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/retry"
	"github.com/orderflow/orderflow/tools/moto"
)

// InstallHint tells how to install the emulator where it is missing.
const InstallHint = "pip install 'moto[server]==5.2.1'"

// ErrNotInstalled is returned (wrapped, with InstallHint) by Start when
// python3 or moto's server is not installed.
var ErrNotInstalled = errors.New("moto server not installed")

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Port is the 127.0.0.1 port to listen on; 0 picks a free one.
	Port int
	// LambdaEndpointPort, when set, becomes MOTO_PORT in moto's environment:
	// moto's Step Functions then send their task calls (Lambda Invoke and every
	// other service) to http://localhost:LambdaEndpointPort, an endpoint that
	// serves the Lambda Invoke API and proxies the rest to this emulator.
	// When 0, MOTO_PORT is the emulator's own port.
	LambdaEndpointPort int
	// Python is the interpreter to run; default $MOTO_PYTHON, else python3.
	Python string
	// Env holds extra KEY=VALUE entries for moto's environment.
	Env []string
	// Log receives moto's stdout and stderr; nil discards them. The last
	// lines are kept anyway and reported when the server fails to start.
	Log io.Writer
	// StartTimeout bounds the wait for the server to answer; default 30s.
	StartTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Python == "" {
		o.Python = os.Getenv("MOTO_PYTHON")
	}
	if o.Python == "" {
		o.Python = "python3"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Server is a running emulator. Stop it when done.
type Server struct {
	// Endpoint is the emulator's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// PID is the process id of the server, also its process group id.
	PID int

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been reaped
	waitErr  error         // set before exited is closed
	tail     *tailBuffer
	shimDir  string
	stopOnce sync.Once
}

// Start runs the emulator and returns once it answers and Step Functions
// execution is enabled. It returns an error wrapping ErrNotInstalled when
// python3 or moto is missing, and an error with the server's last output when
// the server exits or does not answer in time. ctx bounds the start only, not
// the server's life: call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.setDefaults()
	python, err := exec.LookPath(opts.Python)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w: install python3 and then %s", opts.Python, ErrNotInstalled, InstallHint)
	}
	if opts.Port != 0 {
		return start(ctx, opts, python, opts.Port)
	}
	// A free port can be taken by someone else before moto binds it: retry.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		s, err := start(ctx, opts, python, port)
		if err == nil || attempt == 3 || !errors.Is(err, errExited) || errors.Is(err, ErrNotInstalled) {
			return s, err
		}
	}
}

// errExited marks a server that exited before answering.
var errExited = errors.New("moto server exited before answering")

func start(ctx context.Context, opts Options, python string, port int) (*Server, error) {
	shimDir, err := os.MkdirTemp("", "orderflow-moto-")
	if err != nil {
		return nil, fmt.Errorf("write moto shim: %w", err)
	}
	shim := filepath.Join(shimDir, "moto_server_shim.py")
	if err := os.WriteFile(shim, moto.ServerShim, 0o644); err != nil {
		os.RemoveAll(shimDir)
		return nil, fmt.Errorf("write moto shim: %w", err)
	}

	motoPort := port
	if opts.LambdaEndpointPort != 0 {
		motoPort = opts.LambdaEndpointPort
	}
	tail := &tailBuffer{max: 8 << 10}
	out := io.MultiWriter(tail, opts.Log)
	cmd := exec.Command(python, "-u", shim, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MOTO_PORT="+strconv.Itoa(motoPort), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(shimDir)
		return nil, fmt.Errorf("start moto server: %w", err)
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		PID:      cmd.Process.Pid,
		cmd:      cmd,
		exited:   make(chan struct{}),
		tail:     tail,
		shimDir:  shimDir,
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		s.Stop()
		return nil, err
	}
	// Python has read the script by now: remove it, so that nothing is left
	// in the temp dir even if this process is killed without Stop.
	os.RemoveAll(shimDir)
	if err := s.enableStepFunctions(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the server until it answers, it exits, or the deadline.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for n := 1; ; n++ {
		select {
		case <-s.exited:
			if exitCode(s.waitErr) == moto.ExitMotoMissing {
				return fmt.Errorf("%w: %s\n%s", ErrNotInstalled, InstallHint, s.tail.String())
			}
			return fmt.Errorf("%w (%v):\n%s", errExited, s.waitErr, s.tail.String())
		default:
		}
		if err := s.call(ctx, http.MethodGet, "/moto-api/config", nil); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("moto server did not answer on %s within %s: %w\n%s", s.Endpoint, timeout, ctx.Err(), s.tail.String())
		case <-s.exited:
		case <-time.After(retry.Delay(n, 20*time.Millisecond, 200*time.Millisecond)):
		}
	}
}

func (s *Server) enableStepFunctions(ctx context.Context) error {
	body := []byte(`{"stepfunctions":{"execute_state_machine":true}}`)
	if err := s.call(ctx, http.MethodPost, "/moto-api/config", body); err != nil {
		return fmt.Errorf("enable step functions execution: %w", err)
	}
	return nil
}

// Reset drops every resource in the emulator (POST /moto-api/reset) and
// enables Step Functions execution again. It returns the HTTP error, if any.
func (s *Server) Reset(ctx context.Context) error {
	if err := s.call(ctx, http.MethodPost, "/moto-api/reset", nil); err != nil {
		return fmt.Errorf("reset emulator: %w", err)
	}
	return s.enableStepFunctions(ctx)
}

func (s *Server) call(ctx context.Context, method, path string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	return nil
}

// Stop kills the server's process group and waits for the server to exit.
// moto keeps everything in memory, so there is nothing to flush: SIGKILL is
// immediate where SIGTERM takes moto about 1.5 s. Stop is idempotent and safe
// to call concurrently; it returns once the process is reaped.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		killGroup(s.PID)
		<-s.exited
		os.RemoveAll(s.shimDir)
	})
	<-s.exited
}

// Running reports whether any process of the server's process group is still
// alive; after Stop it must be false.
func (s *Server) Running() bool {
	return groupAlive(s.PID)
}

// Output returns the last few KiB the server wrote, for error reports.
func (s *Server) Output() string {
	return s.tail.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
