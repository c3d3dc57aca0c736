package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/tools/lambdahost"
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
	// Faults, when set, kills function processes mid-invoke (the Kill hook).
	Faults *chaos.Injector
}

// startRunner runs every function as the `bootstrap` binary SAM deploys (built for
// this machine) under tools/lambdahost, our Lambda Runtime API host: up to PoolSize
// processes per function, started on first use, the template's timeout enforced.
func startRunner(ctx context.Context, specs []*FunctionSpec, opts runnerOptions) (Runner, error) {
	if opts.Build {
		if err := buildFunctions(ctx, specs, opts); err != nil {
			return nil, err
		}
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	hostOpts := lambdahost.Options{Region: Region, AccountID: AccountID}
	if opts.Faults != nil {
		hostOpts.Kill, hostOpts.OnKill = opts.Faults.DecideKill, opts.Faults.Killed
		// Each process signs with its own access key, so that the injector can tell
		// which invoke made a call: crash points (chaos.CrashPoint) and the calls a
		// planned kill lets through (chaos.Crash).
		hostOpts.ProcessKeys = true
	}
	h := lambdahost.New(hostOpts)
	for _, f := range specs {
		bin, err := filepath.Abs(filepath.Join(opts.BuildDir, filepath.Base(f.Dir), "bootstrap"))
		if err != nil || !exists(bin) {
			_ = h.Close()
			return nil, fmt.Errorf("function %s: %s is missing: run `make build-local` (or pass --build)", f.LogicalID, bin)
		}
		// The template's variables, then what Lambda (and, for the endpoint, the local
		// stack in the role of `sam local invoke --env-vars`) sets: the template declares
		// AWS_ENDPOINT_URL empty, which must not win over the local endpoint.
		env := map[string]string{}
		for k, v := range f.Env {
			env[k] = v
		}
		for k, v := range map[string]string{
			"AWS_REGION": Region, "AWS_DEFAULT_REGION": Region,
			"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			"AWS_ENDPOINT_URL": opts.Endpoint, "TZ": ":UTC",
		} {
			env[k] = v
		}
		if err := h.Register(lambdahost.Function{Name: f.Name, Path: bin, Env: env, Timeout: f.Timeout,
			MemoryMB: f.MemoryMB, Concurrency: max(1, opts.PoolSize), Stdout: out, Stderr: out}); err != nil {
			_ = h.Close()
			return nil, err
		}
	}
	opts.Faults.SetProcesses(h)
	return h, nil
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
