package jwtauth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Authorizer validates bearer tokens as API Gateway's HTTP API JWT authorizer does
// (identity source $request.header.Authorization):
//
//  1. the header holds the token, alone or after "Bearer ";
//  2. the token decodes (header.payload.signature, base64url JSON);
//  3. its alg is RSA (RS256/384/512), its kid names a key of the issuer's key set, found
//     through the issuer's OIDC discovery document (jwks_uri), and the signature verifies;
//  4. iss is the configured issuer exactly; aud (or client_id) is one of the audiences;
//     exp is after now; nbf and iat, when present, are not after now.
//
// Anything else is refused; the claims of a valid token are passed on as strings.
type Authorizer struct {
	Issuer    string
	Audiences []string
	// HTTP fetches the discovery document and the keys; http.DefaultClient when nil.
	HTTP *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*rsa.PublicKey
}

// Authorize validates the Authorization header of r and returns the authorizer part of
// the request context (payload format 2.0: jwt.claims), or an error saying why the
// token is refused.
func (a *Authorizer) Authorize(ctx context.Context, r *http.Request) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error) {
	raw := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(raw) > 7 && strings.EqualFold(raw[:7], "bearer ") {
		raw = strings.TrimSpace(raw[7:])
	}
	if raw == "" {
		return nil, errors.New("no token in the Authorization header")
	}
	t, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := hashes[t.header.Alg]; !ok {
		return nil, fmt.Errorf("algorithm %q is not accepted (RS256, RS384, RS512)", t.header.Alg)
	}
	if t.header.Kid == "" {
		return nil, errors.New("the token has no kid")
	}
	key, err := a.key(ctx, t.header.Kid)
	if err != nil {
		return nil, err
	}
	if err := t.verify(key); err != nil {
		return nil, err
	}
	if err := a.validate(t.claims); err != nil {
		return nil, err
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: stringClaims(t.claims)},
	}, nil
}

func (a *Authorizer) validate(c map[string]any) error {
	if iss, _ := c["iss"].(string); iss != a.Issuer {
		return fmt.Errorf("issuer %q is not %q", iss, a.Issuer)
	}
	if !a.audienceOK(c["aud"]) && !a.audienceOK(c["client_id"]) {
		return errors.New("the token's audience is not accepted")
	}
	now := a.now().Unix()
	exp, ok := numeric(c["exp"])
	switch {
	case !ok:
		return errors.New("the token has no exp")
	case exp <= now:
		return errors.New("the token has expired")
	}
	if nbf, ok := numeric(c["nbf"]); c["nbf"] != nil && (!ok || nbf > now) {
		return errors.New("the token is not valid yet (nbf)")
	}
	if iat, ok := numeric(c["iat"]); c["iat"] != nil && (!ok || iat > now) {
		return errors.New("the token was issued in the future (iat)")
	}
	return nil
}

func (a *Authorizer) audienceOK(v any) bool {
	var got []string
	switch x := v.(type) {
	case string:
		got = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, want := range a.Audiences {
			if g == want && g != "" {
				return true
			}
		}
	}
	return false
}

func numeric(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	return int64(f), err == nil
}

// stringClaims renders claims as API Gateway passes them to the integration: strings as
// they are, numbers and booleans as their JSON text, arrays as "[a b]".
func stringClaims(c map[string]any) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = claimString(v)
	}
	return out
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + claimString(x[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// key returns the issuer's key kid, fetching the key set again when kid is unknown (a
// rotated key), as API Gateway does.
func (a *Authorizer) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k := a.keys[kid]; k != nil {
		return k, nil
	}
	keys, err := a.fetchKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", a.Issuer, err)
	}
	a.keys = keys
	if k := keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("kid %q is not a key of %s", kid, a.Issuer)
}

func (a *Authorizer) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := a.getJSON(ctx, strings.TrimSuffix(a.Issuer, "/")+DiscoveryPath, &disc); err != nil {
		return nil, err
	}
	if disc.JWKSURI == "" {
		return nil, errors.New("the discovery document has no jwks_uri")
	}
	var set JWKS
	if err := a.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if pub, err := k.PublicKey(); err == nil && k.Kid != "" {
			keys[k.Kid] = pub
		}
	}
	return keys, nil
}

func (a *Authorizer) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := a.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
