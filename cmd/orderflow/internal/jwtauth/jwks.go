package jwtauth

import (
	"crypto/rsa"
	"errors"
	"math/big"
)

// JWK is an RSA public key as a JSON Web Key (RFC 7517).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is a JSON Web Key Set, what an issuer's jwks_uri serves.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the JWK of pub, named kid, for RS256 signatures.
func PublicJWK(kid string, pub *rsa.PublicKey) JWK {
	return JWK{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
		N: b64.EncodeToString(pub.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

// PublicKey returns the RSA key k describes.
func (k JWK) PublicKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, errors.New("not an RSA key")
	}
	n, errN := b64.DecodeString(k.N)
	e, errE := b64.DecodeString(k.E)
	if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("malformed RSA JWK")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
}
