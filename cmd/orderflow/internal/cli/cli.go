// Package cli implements the user subcommands of the orderflow tool: submitting and
// following orders, setting stock, inspecting and redriving dead-letter queues, replaying
// the bus's archive, and the load generator. It talks to a running stack (the local one from `orderflow local up`
// or a deployed one) through its HTTP API and the AWS APIs.
//
// Where the stack is comes from flags, then environment variables, then defaults that
// match the local stack:
//
//	--api URL            ORDERFLOW_API      http://127.0.0.1:3000
//	--aws-endpoint URL   AWS_ENDPOINT_URL   http://127.0.0.1:4566 ("aws" = the real AWS endpoints)
//	--region R           AWS_REGION / AWS_DEFAULT_REGION   us-east-1
//	--stage S            ORDERFLOW_STAGE    dev (every resource name of template.yaml ends in it)
//	--inventory-table T  INVENTORY_TABLE    inventory-<stage>
//	--bus B              EVENT_BUS_NAME     orders-<stage>
//	--event-source S     EVENT_SOURCE       myapp.orders
//
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN;
// when they are unset and an endpoint override is in use, the emulator's test/test.
// The HTTP API's Authorization header, when it requires one (JWT), comes from
// ORDERFLOW_AUTHORIZATION.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Defaults of the stack location, matching the local stack.
const (
	DefaultAPI         = "http://127.0.0.1:3000"
	DefaultEndpoint    = "http://127.0.0.1:4566"
	DefaultRegion      = "us-east-1"
	DefaultStage       = "dev"
	DefaultEventSource = "myapp.orders"
)

// Exit codes of Run.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// errUsage marks an error the user can fix by reading the usage text.
var errUsage = errors.New("usage")

// usageError returns an error wrapping errUsage with a message.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

const usageText = `usage: orderflow <command> [flags]

commands:
  orders create --customer ID --sku SKU:QTY [--sku ...] [--currency USD] [--token TOK]
                [--idempotency-key K] [--file ORDER.json] [--wait]
  orders get ID
  orders watch [ORDER_ID]       follow the order events on the bus (Ctrl-C to stop)
  stock set SKU QTY [--price MINOR] [--currency USD]
  stock get SKU
  dlq list [--peek N] [--prefix P]
  dlq redrive QUEUE [--to QUEUE] | s3://BUCKET
  events replay --from T [--to T] [--detail-type X ...] [--rule NAME ...] [--archive A] [--name N]
                                replay the archive's events of a window (RFC 3339) to the bus's rules
  load --orders N --concurrency C --seed S [--mix default] [--histogram FILE.svg]
                [--timeout 60s] [--poll 100ms] [--no-catalog]
  audit [--catalog FILE] [--grace D] [--json]   the reliability invariants (orderflow audit -h)
  lake query SQL [--bucket B] [--json]   SQL (DuckDB) over the data lake's table order_events
  token --customer ID [--ttl 1h] [--state-dir .local]
                                a JWT of the local issuer (local up --param ApiAuth=JWT);
                                export ORDERFLOW_AUTHORIZATION="Bearer $(orderflow token --customer c-1)"
  plan --rate N[,N...] [--region R] [--hot-sku SHARE] [--param K=V] [--root .]
                                capacity plan: each AWS limit against the load of N orders/s,
                                what to request or set first, and the monthly cost
  local up                      run the whole stack on this machine (orderflow local up -h)
  console [--stage S] [--allow-actions]
                                serve the web console for a stack (orderflow console -h)

where the stack is (flags of every command; env in brackets):
  --api URL            HTTP API base URL [ORDERFLOW_API] (default http://127.0.0.1:3000)
  --aws-endpoint URL   AWS endpoint [AWS_ENDPOINT_URL] (default http://127.0.0.1:4566; "aws" = real AWS)
  --region R           [AWS_REGION] (default us-east-1)
  --stage S            stage suffix of resource names [ORDERFLOW_STAGE] (default dev)
  --inventory-table T  [INVENTORY_TABLE] (default inventory-<stage>)
  --bus B              [EVENT_BUS_NAME] (default orders-<stage>)
  --event-source S     [EVENT_SOURCE] (default myapp.orders)
`

// Run runs the subcommand named by args (without the program name), writing results to
// stdout and diagnostics to stderr, and returns the process exit code: 0 on success,
// 1 on a failure, 2 on a usage error.
// Ctrl-C (SIGINT) or SIGTERM cancels the command: `orders watch` then removes its rule and
// queue, `load` stops sending.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr, os.Getenv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdout, stderr, getenv)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "orderflow: %s\n\n%s", strings.TrimPrefix(err.Error(), "usage: "), usageText)
		return ExitUsage
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ExitError
	}
	fmt.Fprintf(stderr, "orderflow: %v\n", err)
	return ExitError
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError("no command")
	}
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "orders":
		switch sub {
		case "create":
			return e.ordersCreate(ctx, rest[1:])
		case "get":
			return e.ordersGet(ctx, rest[1:])
		case "watch":
			return e.ordersWatch(ctx, rest[1:])
		}
		return usageError("orders: want create, get or watch, got %q", sub)
	case "stock":
		switch sub {
		case "set":
			return e.stockSet(ctx, rest[1:])
		case "get":
			return e.stockGet(ctx, rest[1:])
		}
		return usageError("stock: want set or get, got %q", sub)
	case "dlq":
		switch sub {
		case "list":
			return e.dlqList(ctx, rest[1:])
		case "redrive":
			return e.dlqRedrive(ctx, rest[1:])
		}
		return usageError("dlq: want list or redrive, got %q", sub)
	case "events":
		if sub == "replay" {
			return e.eventsReplay(ctx, rest[1:])
		}
		return usageError("events: want replay, got %q", sub)
	case "load":
		return e.load(ctx, rest)
	case "audit":
		return e.auditCmd(ctx, rest)
	case "lake":
		if sub == "query" {
			return e.lakeQuery(ctx, rest[1:])
		}
		return usageError("lake: want query, got %q", sub)
	case "token":
		return e.token(rest)
	case "plan":
		return e.plan(rest)
	}
	return usageError("unknown command %q", cmd)
}

// env is what every subcommand shares: its output streams and the environment.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// stackFlags says where the stack is; every subcommand accepts them.
type stackFlags struct {
	API            string
	Endpoint       string
	Region         string
	Stage          string
	InventoryTable string
	Bus            string
	EventSource    string
}

func (e *env) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// newFlagSet returns a flag set for cmd with the stack flags registered on sf.
func (e *env) newFlagSet(cmd string, sf *stackFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("orderflow "+cmd, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&sf.API, "api", e.envOr("ORDERFLOW_API", DefaultAPI), "HTTP API base URL")
	fs.StringVar(&sf.Endpoint, "aws-endpoint", e.envOr("AWS_ENDPOINT_URL", DefaultEndpoint), `AWS endpoint ("aws" = real AWS)`)
	fs.StringVar(&sf.Region, "region", e.envOr("AWS_REGION", e.envOr("AWS_DEFAULT_REGION", DefaultRegion)), "AWS region")
	fs.StringVar(&sf.Stage, "stage", e.envOr("ORDERFLOW_STAGE", DefaultStage), "stage suffix of the resource names")
	fs.StringVar(&sf.InventoryTable, "inventory-table", e.getenv("INVENTORY_TABLE"), "inventory table (default inventory-<stage>)")
	fs.StringVar(&sf.Bus, "bus", e.getenv("EVENT_BUS_NAME"), "orders event bus (default orders-<stage>)")
	fs.StringVar(&sf.EventSource, "event-source", e.envOr("EVENT_SOURCE", DefaultEventSource), "source of the business events")
	return fs
}

// inventoryTable returns the inventory table name: the explicit one or the template's.
func (sf *stackFlags) inventoryTable() string {
	if sf.InventoryTable != "" {
		return sf.InventoryTable
	}
	return "inventory-" + sf.Stage
}

// bus returns the orders bus name: the explicit one or the template's.
func (sf *stackFlags) bus() string {
	if sf.Bus != "" {
		return sf.Bus
	}
	return "orders-" + sf.Stage
}

// awsConfig builds the aws.Config of the stack's AWS APIs straight from the flags and the
// environment (no config.LoadDefaultConfig: see DESIGN.md, "Performance").
func (e *env) awsConfig(sf *stackFlags) (aws.Config, error) {
	return AWSConfig(sf.Endpoint, sf.Region, e.getenv)
}

// AWSConfig returns the aws.Config for endpoint (an http(s) URL, or "aws" or "" for the
// real endpoints) and region, with credentials from getenv's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the emulator's test/test when they are
// unset and an endpoint is given. It returns a usage error for a bad endpoint and an
// error when the real endpoints would be used without credentials.
func AWSConfig(endpoint, region string, getenv func(string) string) (aws.Config, error) {
	cfg := aws.Config{Region: region}
	override := endpoint != "" && endpoint != "aws"
	if override {
		if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
			return aws.Config{}, usageError("--aws-endpoint %q must be an http(s) URL or \"aws\"", endpoint)
		}
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case key != "" && secret != "":
		cfg.Credentials = credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))
	case override:
		cfg.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
	default:
		return aws.Config{}, errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return cfg, nil
}

// parse parses args with fs, allowing flags after positional arguments
// (`orders get ID --api URL`), and returns the positional arguments. A parse error is
// a usage error; -h is flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(fs *flag.FlagSet, pos []string, names ...string) error {
	if len(pos) != len(names) {
		return usageError("%s: want %d argument(s) (%s), got %d", fs.Name(), len(names), strings.Join(names, " "), len(pos))
	}
	return nil
}

// cleanupTimeout bounds the clean-up calls made after the command's context ended.
const cleanupTimeout = 10 * time.Second
