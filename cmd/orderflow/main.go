// Command orderflow is the developer tool of orderflow: `orderflow local up` runs the
// whole system on this machine (see internal/stack) with its web console
// (internal/console; `orderflow console` serves it for any stack); the other subcommands (orders,
// stock, dlq, events, load) talk to a running stack (see internal/cli).
package main

import (
	"context"
	"os"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "local" {
		os.Exit(runLocal(args[1:], os.Stdout, os.Stderr))
	}
	if len(args) > 0 && args[0] == "console" {
		os.Exit(runConsole(args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(cli.Run(context.Background(), args, os.Stdout, os.Stderr))
}
