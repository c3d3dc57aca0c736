package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
	"github.com/orderflow/orderflow/pkg/order"
)

// token prints a JWT for a customer, minted with the key of the local issuer that
// `orderflow local up --param ApiAuth=JWT` saved in its state dir.
func (e *env) token(args []string) error {
	fs := flag.NewFlagSet("orderflow token", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	customer := fs.String("customer", "", "the customer the token names (required)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	dir := fs.String("state-dir", ".local", "the local stack's state dir (its lock dir)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos); err != nil {
		return err
	}
	if !order.ValidCustomerID(*customer) {
		return usageError("token: --customer must be a customer id (letters, digits and - _ . : @)")
	}
	if *ttl <= 0 {
		return usageError("token: --ttl must be positive")
	}
	iss, err := jwtauth.LoadIssuer(*dir)
	if err != nil {
		return err
	}
	tok, err := iss.Mint(*customer, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
