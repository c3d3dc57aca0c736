package jwtauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Issuer is a local identity provider: one RSA key, its public half served at URL as a
// JWKS behind an OIDC discovery document (as API Gateway finds an issuer's keys), and
// tokens minted for a customer.
type Issuer struct {
	// URL is the issuer (the iss claim): http://127.0.0.1:<port>.
	URL string `json:"issuer"`
	// Audience is the aud claim of the tokens it mints.
	Audience string `json:"audience"`
	// Claim is the claim that names the customer (the template's JwtCustomerClaim).
	Claim string `json:"claim"`
	// KID names the key.
	KID string `json:"kid"`
	key *rsa.PrivateKey
	srv *http.Server
}

// Discovery and key-set paths, relative to the issuer URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// StartIssuer makes a new key and serves the issuer on 127.0.0.1 (a free port) until
// Close. audience and claim are those of the tokens it will mint.
func StartIssuer(audience, claim string) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("JWT issuer: %w", err)
	}
	iss := &Issuer{URL: "http://" + l.Addr().String(), Audience: audience, Claim: claim,
		KID: fmt.Sprintf("local-%d", time.Now().UnixNano()), key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.URL + JWKSPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, JWKS{Keys: []JWK{PublicJWK(iss.KID, &key.PublicKey)}})
	})
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = iss.srv.Serve(l) }()
	return iss, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Close stops serving the keys.
func (i *Issuer) Close() error {
	if i.srv == nil {
		return nil
	}
	return i.srv.Close()
}

// Mint returns a token for customer, valid for ttl from now: iss, aud, sub, the
// customer claim, iat, nbf, exp, and token_use "access" as Cognito's access tokens.
func (i *Issuer) Mint(customer string, ttl time.Duration, now time.Time) (string, error) {
	claims := map[string]any{
		"iss": i.URL, "aud": i.Audience, "sub": customer, "token_use": "access",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if i.Claim != "" {
		claims[i.Claim] = customer
	}
	return i.Sign(claims)
}

// Sign signs any claims with the issuer's key (tests: expired, foreign-audience tokens).
func (i *Issuer) Sign(claims map[string]any) (string, error) {
	return Sign(i.key, i.KID, claims)
}

// State files under a state dir: the issuer (JSON) and its private key (PEM, 0600).
const (
	stateFile = "issuer.json"
	keyFile   = "issuer-key.pem"
)

// Save writes the issuer and its key under dir (the local stack's state dir), so that
// `orderflow token` can mint tokens for the running stack.
func (i *Issuer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(i.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	b, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o600)
}

// Remove deletes what Save wrote.
func Remove(dir string) {
	_ = os.Remove(filepath.Join(dir, keyFile))
	_ = os.Remove(filepath.Join(dir, stateFile))
}

// ErrNoIssuer is returned (wrapped) by LoadIssuer when dir holds no issuer: no local
// stack with ApiAuth=JWT is running there.
var ErrNoIssuer = errors.New("no local JWT issuer (is `orderflow local up --param ApiAuth=JWT` running?)")

// LoadIssuer reads the issuer Save wrote under dir; it mints but does not serve.
func LoadIssuer(dir string) (*Issuer, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoIssuer)
	}
	if err != nil {
		return nil, err
	}
	var i Issuer
	if err := json.Unmarshal(b, &i); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(kb)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", filepath.Join(dir, keyFile))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: not an RSA private key", filepath.Join(dir, keyFile))
	}
	i.key = rk
	return &i, nil
}
