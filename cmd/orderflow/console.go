package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/console"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/stack"
	"github.com/orderflow/orderflow/tools/template"
)

const consoleUsage = `usage: orderflow console [flags]

Serves the web console for a stack reachable with these flags (the local stack's by
default; --aws-endpoint aws --stage prod for a deployed one). Resource names come from
template.yaml for the stage. Read-only unless --allow-actions. Ctrl-C stops it.

Flags:
`

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runConsole runs `orderflow console` and returns the exit code.
func runConsole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, consoleUsage); fs.PrintDefaults() }
	tplPath := fs.String("template", "template.yaml", "the stack's SAM template")
	port := fs.Int("console-port", console.DefaultPort, "port on 127.0.0.1 (0 = a free port)")
	endpoint := fs.String("aws-endpoint", envOr("AWS_ENDPOINT_URL", cli.DefaultEndpoint), `AWS endpoint ("aws" = real AWS)`)
	region := fs.String("region", envOr("AWS_REGION", envOr("AWS_DEFAULT_REGION", cli.DefaultRegion)), "AWS region")
	stage := fs.String("stage", envOr("ORDERFLOW_STAGE", cli.DefaultStage), "the stack's Stage parameter")
	api := fs.String("api", envOr("ORDERFLOW_API", cli.DefaultAPI), "HTTP API base URL (load runs)")
	bucket := fs.String("bucket", os.Getenv("DATA_LAKE_BUCKET"), "the data lake's bucket (the DataLakeBucketName output; the timeline shows data-lake rows with it)")
	allow := fs.Bool("allow-actions", false, "allow redrive and load runs from the console")
	params := cli.ParamFlags{}
	fs.Var(params, "param", "template parameter Key=Value (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	params["Stage"] = *stage
	t, err := template.Load(*tplPath)
	if err != nil {
		fmt.Fprintf(stderr, "orderflow console: %v\n", err)
		return 1
	}
	names, err := stack.Names(t, params)
	if err != nil {
		fmt.Fprintf(stderr, "orderflow console: %v\n", err)
		return 2
	}
	cfg, err := cli.AWSConfig(*endpoint, *region, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "orderflow console: %v\n", err)
		return 2
	}
	srv, err := console.Start(console.Options{Template: t, Names: names, LakeBucket: *bucket, AWS: cfg, Stage: *stage,
		API: *api, Authorization: os.Getenv("ORDERFLOW_AUTHORIZATION"), AllowActions: *allow, Title: *stage}, *port)
	if err != nil {
		fmt.Fprintf(stderr, "orderflow console: %v\n", err)
		return 1
	}
	mode := "read-only (--allow-actions to redrive and load)"
	if *allow {
		mode = "actions allowed"
	}
	fmt.Fprintf(stdout, "orderflow console for stage %s at %s — %s; Ctrl-C stops it\n", *stage, srv.URL, mode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "orderflow console: stop: %v\n", err)
		return 1
	}
	return 0
}
