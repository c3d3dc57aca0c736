package cli

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
)

// `orderflow token` mints, from the state dir, a token the local stack's authorizer accepts.
func TestTokenCommand(t *testing.T) {
	iss, err := jwtauth.StartIssuer("orderflow-local", "sub")
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	dir := t.TempDir()
	if err := iss.Save(dir); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if got := run(context.Background(), []string{"token", "--customer", "c-1", "--state-dir", dir}, &out, &errOut, noEnv); got != 0 {
		t.Fatalf("exit %d: %s", got, errOut.String())
	}
	req, _ := http.NewRequest("GET", "http://x/orders", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	auth, err := (&jwtauth.Authorizer{Issuer: iss.URL, Audiences: []string{"orderflow-local"}}).Authorize(context.Background(), req)
	if err != nil || auth.JWT.Claims["sub"] != "c-1" {
		t.Fatalf("the token is refused or names another customer: %v %v", auth, err)
	}
	for _, args := range [][]string{{"token"}, {"token", "--customer", "a b"}, {"token", "--customer", "c-1", "--state-dir", t.TempDir()}} {
		if got := run(context.Background(), args, &out, &errOut, noEnv); got == 0 {
			t.Errorf("%v: exit 0, want an error", args)
		}
	}
}
