package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/console"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/stack"
	"github.com/orderflow/orderflow/tools/template"
)

const localUsage = `usage: orderflow local up [flags]
       orderflow local wait [flags]
       orderflow local env-file [--endpoint URL] [--template FILE] [-o FILE]

up runs orderflow on this machine without an AWS account: moto for the AWS APIs, the
resources of template.yaml, the functions as their bootstrap binaries, the event sources,
an AWS endpoint (the edge) and the HTTP API. Ctrl-C stops everything. Until the stack is
ready, the edge and the HTTP API answer 503 with a message.

wait returns (exit 0) once a local stack is ready: for scripts, after starting up.

env-file writes the --env-vars file of ` + "`sam local invoke`" + ` for the local stack: every
function's variables with the local stack's physical names, AWS_ENDPOINT_URL the edge as a
container sees it (events/env.local.json is this, for the default endpoint).

Flags:
`

const waitUsage = `usage: orderflow local wait [--aws-endpoint URL] [--api URL] [--ready-file FILE] [--timeout 3m]

Waits until the local stack's edge and HTTP API answer GET /_orderflow/ready with 200,
then exits 0; exits 1 with the last answer when --timeout passes first. With --ready-file
(as given to local up) it first waits for the file and takes both URLs from it.

Flags:
`

// templateFlags collects repeated --template: the first replaces the default root
// template, the others run beside it (stack.Options.Templates).
type templateFlags struct {
	opts *stack.Options
	set  bool
}

func (f *templateFlags) String() string {
	if f.opts == nil {
		return ""
	}
	return strings.Join(append([]string{f.opts.Template}, f.opts.Templates...), ",")
}

func (f *templateFlags) Set(s string) error {
	if !f.set {
		f.opts.Template, f.set = s, true
		return nil
	}
	f.opts.Templates = append(f.opts.Templates, s)
	return nil
}

// runLocal runs `orderflow local up`, `local wait` or `local env-file` and returns the exit
// code.
func runLocal(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "wait" {
		return runLocalWait(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "env-file" {
		return runEnvFile(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprint(stderr, localUsage)
		return 2
	}
	fs := flag.NewFlagSet("local up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	var opts stack.Options
	params := cli.ParamFlags{}
	opts.Template = "template.yaml"
	fs.Var(&templateFlags{opts: &opts}, "template", "the SAM template; repeat to run more templates beside it, e.g. --template template.yaml --template examples/loyalty/template.yaml")
	fs.IntVar(&opts.HTTPPort, "http-port", 3000, "HTTP API port on 127.0.0.1 (0 = a free port)")
	fs.IntVar(&opts.EdgePort, "edge-port", 4566, "AWS endpoint port on 127.0.0.1 (0 = a free port)")
	fs.StringVar(&opts.AWSEndpoint, "aws-endpoint", "", "use this AWS endpoint (LocalStack, a running moto) instead of starting moto")
	fs.StringVar(&opts.BuildDir, "build-dir", "build/local", "where <function>/bootstrap are (make build-local)")
	fs.BoolVar(&opts.Build, "build", false, "go build the functions before starting them")
	fs.StringVar(&opts.Catalog, "catalog", "local/catalog.json", "demo catalog loaded into the inventory table (- for none)")
	fs.Var(params, "param", "template parameter override Key=Value (repeatable; applies to every template declaring Key; Stage defaults to dev)")
	consolePort := fs.Int("console-port", console.DefaultPort, "web console port on 127.0.0.1 (0 = a free port, -1 = no console)")
	readyFile := fs.String("ready-file", "", "write the endpoints and resource names as JSON to this file when ready")
	quiet := fs.Bool("quiet", false, "do not print the functions' and the emulator's output")
	faults := fs.String("faults", "", "inject faults from this JSON spec (AWS errors, latency, crashes, duplicate deliveries; see cmd/orderflow/internal/chaos); \"standard\" is the chaos run's mix")
	faultSeed := fs.Uint64("fault-seed", 0, "seed of the fault decisions (overrides the spec's; the same seed and orders inject the same faults)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opts.Dir = "."
	if *faults != "" {
		spec := chaos.Standard(1)
		if *faults != "standard" {
			var err error
			if spec, err = chaos.Load(*faults); err != nil {
				fmt.Fprintf(stderr, "orderflow local up: %v\n", err)
				return 2
			}
		}
		if *faultSeed != 0 {
			spec.Seed = *faultSeed
		}
		opts.Faults = &spec
	}
	opts.Parameters = params
	opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if !*quiet {
		opts.FunctionLog = stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	began := time.Now()
	s, err := stack.Up(startCtx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "orderflow local up: %v\n", err)
		return 1
	}
	defer s.Close()
	consoleURL := "(off)"
	if *consolePort >= 0 {
		srv, err := startLocalConsole(s, opts, *consolePort)
		if err != nil {
			fmt.Fprintf(stderr, "orderflow local up: %v\n", err)
			return 1
		}
		defer srv.Close()
		consoleURL = srv.URL
	}
	for _, n := range s.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	if opts.Faults != nil {
		fmt.Fprintf(stdout, "  faults: injected with seed %d; the same seed and orders (Idempotency-Keys) inject the same faults again\n", max(opts.Faults.Seed, 1))
	}
	fmt.Fprintf(stdout, `
orderflow local stack is up (%.1fs)
  console       %s   (the flow, live; orders, timelines, DLQs, load runs)
  HTTP API      %s   (POST /orders, GET /orders/{orderId}, GET /orders; %s)
  AWS endpoint  %s   (AWS_ENDPOINT_URL for the SDK/CLI; credentials test/test, us-east-1)
  emulator      %s
  state machine %s
  bus %s, stream %s, bucket %s

Try:
  curl -s -XPOST %s/orders -H 'content-type: application/json' -d '{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":1}],"paymentToken":"tok_visa"}'

Ctrl-C stops everything.
`, time.Since(began).Seconds(), consoleURL, s.HTTPURL, authNote(s), s.EdgeURL, s.EmulatorURL, s.StateMachineARN, s.Bus, s.Stream, s.Bucket, s.HTTPURL)
	if *readyFile != "" {
		if err := s.WriteReadyFile(*readyFile); err != nil {
			fmt.Fprintf(stderr, "orderflow local up: ready file: %v\n", err)
			return 1
		}
		defer os.Remove(*readyFile)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping the local stack...")
	if err := s.Close(); err != nil {
		fmt.Fprintf(stderr, "orderflow local up: stop: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "stopped.")
	return 0
}

// authNote says how the local HTTP API authenticates callers.
func authNote(s *stack.Stack) string {
	if s.Issuer != nil {
		return "JWT of the local issuer " + s.Issuer.URL + `: export ORDERFLOW_AUTHORIZATION="Bearer $(orderflow token --customer c-1)"`
	}
	return "SigV4 (IAM) is NOT enforced locally; --param ApiAuth=JWT enforces JWTs"
}

// startLocalConsole serves the web console for the local stack s, actions allowed.
func startLocalConsole(s *stack.Stack, opts stack.Options, port int) (*console.Server, error) {
	t, err := template.Load(opts.Template)
	if err != nil {
		return nil, err
	}
	stage := opts.Parameters["Stage"]
	if stage == "" {
		stage = "dev"
	}
	return console.Start(console.ForLocalStack(s, t, stage), port)
}

// runLocalWait runs `orderflow local wait` and returns the exit code.
func runLocalWait(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("local wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, waitUsage); fs.PrintDefaults() }
	edgeURL := fs.String("aws-endpoint", envOr("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"), "the stack's AWS endpoint (the edge)")
	api := fs.String("api", envOr("ORDERFLOW_API", "http://127.0.0.1:3000"), "the stack's HTTP API")
	readyFile := fs.String("ready-file", "", "wait for this file (local up --ready-file) and take the URLs from it")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *readyFile != "" {
		info, err := stack.WaitReadyFile(ctx, *readyFile)
		if err != nil {
			fmt.Fprintf(stderr, "orderflow local wait: %v\n", err)
			return 1
		}
		*edgeURL, *api = info.EdgeURL, info.HTTPURL
	}
	if err := stack.WaitReady(ctx, *edgeURL, *api); err != nil {
		fmt.Fprintf(stderr, "orderflow local wait: %v\n", err)
		return 1
	}
	return 0
}

// runEnvFile runs `orderflow local env-file`: it provisions the template in a throwaway
// emulator (no functions, free ports, its own lock) only to resolve the names, and writes
// the stack's SAMEnvFile.
func runEnvFile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local env-file", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	tmpl := fs.String("template", "template.yaml", "the SAM template")
	endpoint := fs.String("endpoint", stack.SAMEndpoint, "AWS_ENDPOINT_URL as the function's container reaches the local stack's edge (Linux with --docker-network host: http://127.0.0.1:4566)")
	out := fs.String("o", "", "write to this file (default stdout)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	lock, err := os.MkdirTemp("", "orderflow-env-file-")
	if err != nil {
		fmt.Fprintf(stderr, "orderflow local env-file: %v\n", err)
		return 1
	}
	defer os.RemoveAll(lock)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := stack.Up(ctx, stack.Options{Template: *tmpl, SkipFunctions: true, Catalog: "-", LockDir: lock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "orderflow local env-file: %v\n", err)
		return 1
	}
	b, err := s.SAMEnvFile(*endpoint)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err == nil && *out != "" {
		err = os.WriteFile(*out, b, 0o644)
	} else if err == nil {
		_, err = stdout.Write(b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "orderflow local env-file: %v\n", err)
		return 1
	}
	return 0
}
