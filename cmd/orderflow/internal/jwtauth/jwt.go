// Package jwtauth is the local stand-in for what a deployed stack gets from its identity
// provider and from API Gateway's JWT authorizer: an Issuer of our own (an RSA key,
// served on loopback as a JWKS with an OIDC discovery document, that mints tokens for a
// customer) and an Authorizer that validates tokens as API Gateway's HTTP API JWT
// authorizer does and turns their claims into payload format 2.0's
// requestContext.authorizer.jwt. Only the standard library: RS256 is crypto/rsa.
package jwtauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

var b64 = base64.RawURLEncoding

// header is a JWS header.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// hashes are the RSA algorithms API Gateway's JWT authorizer accepts.
var hashes = map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}

// Sign returns the compact JWS (RS256) of claims signed with key, naming kid.
func Sign(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	h, err := json.Marshal(header{Alg: "RS256", Kid: kid, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := crypto.SHA256.New()
	digest.Write([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest.Sum(nil))
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// token is a decoded, not yet verified, compact JWS.
type token struct {
	header header
	claims map[string]any
	input  string // header.payload, what the signature covers
	sig    []byte
}

func parse(s string) (*token, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (want header.payload.signature)")
	}
	t := &token{input: parts[0] + "." + parts[1]}
	hb, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &t.header) != nil {
		return nil, errors.New("malformed JWT header")
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("malformed JWT payload")
	}
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if err := dec.Decode(&t.claims); err != nil || t.claims == nil {
		return nil, errors.New("malformed JWT payload")
	}
	if t.sig, err = b64.DecodeString(parts[2]); err != nil {
		return nil, errors.New("malformed JWT signature")
	}
	return t, nil
}

// verify checks the signature with key.
func (t *token) verify(key *rsa.PublicKey) error {
	h, ok := hashes[t.header.Alg]
	if !ok {
		return fmt.Errorf("algorithm %q is not accepted (RS256, RS384, RS512)", t.header.Alg)
	}
	d := h.New()
	d.Write([]byte(t.input))
	if err := rsa.VerifyPKCS1v15(key, h, d.Sum(nil), t.sig); err != nil {
		return errors.New("bad signature")
	}
	return nil
}
