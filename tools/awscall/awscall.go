// Package awscall tells which AWS API call an HTTP request is, from the request alone:
// the service (SigV4 credential scope) and the operation (X-Amz-Target, Action, or the
// REST path). The local stack's edge and the bench's counting proxy both identify calls
// with it, so that they name them alike.
package awscall

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Unknown is the service or operation of a request that does not tell.
const Unknown = "unknown"

// maxFormBody bounds how much of a form-encoded body is read to find its Action.
const maxFormBody = 1 << 20

// Identify finds the service and operation of an AWS request: the service from the SigV4
// credential scope (Credential=AKID/date/region/<service>/aws4_request), the operation from
// X-Amz-Target (JSON protocols), the Action parameter (query protocols, in the query
// string or the form body, which is left readable), or the REST path (Lambda, S3). Either
// is "unknown" when the request does not tell.
func Identify(r *http.Request) (service, operation string) {
	service = serviceOf(r.Header.Get("Authorization"))
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return service, t[strings.LastIndex(t, ".")+1:]
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return service, a
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(Peek(r, maxFormBody))); err == nil && v.Get("Action") != "" {
			return service, v.Get("Action")
		}
	}
	switch service {
	case "lambda":
		return service, lambdaOperation(r)
	case "s3":
		return service, s3Operation(r)
	}
	return service, Unknown
}

// Peek returns up to max bytes of r's body, which stays readable from its start.
func Peek(r *http.Request, max int64) []byte {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, max))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	return body
}

// accessKeyOf returns the access key id of a SigV4 Authorization header ("" if none).
func accessKeyOf(auth string) string {
	parts := credential(auth)
	if parts == nil {
		return ""
	}
	return strings.Join(parts[:len(parts)-4], "/")
}

func serviceOf(auth string) string {
	parts := credential(auth)
	if parts == nil {
		return Unknown
	}
	return parts[len(parts)-2]
}

// AccessKeyID returns the access key id that signed r (SigV4's Credential=AKID/...), ""
// when r is not signed. With lambdahost's per-process keys it names the function process
// that made the call.
func AccessKeyID(r *http.Request) string { return accessKeyOf(r.Header.Get("Authorization")) }

// credential returns the parts of a SigV4 Authorization header's credential scope,
// AKID/date/region/service/aws4_request, or nil.
func credential(auth string) []string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return nil
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) < 5 || parts[len(parts)-1] != "aws4_request" {
		return nil
	}
	return parts
}

func lambdaOperation(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/invocations"):
		return "Invoke"
	case strings.HasSuffix(p, "/invoke-async") || strings.HasSuffix(p, "/invoke-async/"):
		return "InvokeAsync"
	case strings.HasSuffix(p, "/functions") || strings.HasSuffix(p, "/functions/"):
		if r.Method == http.MethodPost {
			return "CreateFunction"
		}
		return "ListFunctions"
	}
	return r.Method + " " + p
}

func s3Operation(r *http.Request) string {
	// Path-style: /bucket or /bucket/key (the local endpoint is an IP address).
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	q := r.URL.Query()
	switch {
	case bucket == "":
		return "ListBuckets"
	case key == "":
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return "ListObjectsV2"
			}
			return "ListObjects"
		}
	default:
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodGet:
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			return "DeleteObject"
		}
	}
	return r.Method
}
