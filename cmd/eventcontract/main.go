// Command eventcontract writes what is derived from the business-event schemas in
// events/schemas/ (run from the repository root):
//
//	go run ./cmd/eventcontract            # events/asyncapi.yaml and infra/event-schemas.yaml
//	go run ./cmd/eventcontract release    # the schemas become the released baseline
//
// `make validate` checks that the written files are up to date and that the schemas do
// not break what was released (tools/eventcontract).
package main

import (
	"fmt"
	"os"

	"github.com/orderflow/orderflow/tools/eventcontract"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "eventcontract:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "generate"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "generate":
		files, err := eventcontract.Generate()
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
				return err
			}
			fmt.Println("wrote", f.Path)
		}
		return nil
	case "release":
		ps, err := eventcontract.Release(".")
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			for _, p := range ps {
				fmt.Fprintln(os.Stderr, p)
			}
			return fmt.Errorf("not released: %d problem(s)", len(ps))
		}
		fmt.Println("released: the schemas in", eventcontract.SchemasDir, "are now the baseline in", eventcontract.ReleasedDir)
		return nil
	}
	return fmt.Errorf("unknown command %q (want generate or release)", cmd)
}
