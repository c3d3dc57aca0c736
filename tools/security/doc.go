// Package security holds orderflow's repository-wide security tests; it has no code of its
// own. They check the rules of the design's "Security rules" that no single package owns:
//
//   - no credential or private key is committed (every file `git ls-files` lists is
//     scanned for AWS access key ids, AWS secret keys, private-key PEM blocks and
//     password assignments; the moto test credentials "test"/"test" are allowed);
//   - the transformed SAM template requires SigV4 (IAM) auth on every HTTP API route with
//     the default parameters, and JWT when ApiAuth=JWT;
//   - a payment token run through the real ingest and process handlers reaches no answer,
//     event, task output or log line.
//
// The same token check over the real function binaries on the local stack is in
// cmd/orderflow/internal/stack (badinput_test.go).
package security
