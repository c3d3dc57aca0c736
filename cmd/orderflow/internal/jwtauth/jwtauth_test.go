package jwtauth

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A token minted from the saved state (what `orderflow token` does) passes the
// authorizer of the running issuer and names the customer in the configured claim.
func TestSavedIssuerMintsTokensTheAuthorizerAccepts(t *testing.T) {
	iss, err := StartIssuer("aud-1", "custom:customer_id")
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	dir := t.TempDir()
	if err := iss.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := loaded.Mint("c-1", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://x/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	a := &Authorizer{Issuer: iss.URL, Audiences: []string{"aud-1"}}
	auth, err := a.Authorize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if c := auth.JWT.Claims; c["custom:customer_id"] != "c-1" || c["sub"] != "c-1" {
		t.Errorf("claims %v", c)
	}
	Remove(dir)
	if _, err := LoadIssuer(dir); err == nil {
		t.Error("LoadIssuer found an issuer after Remove")
	}
}
