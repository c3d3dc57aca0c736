// Package s3put is the one S3 call orderflow makes, PutObject, without the S3 client.
//
// The SDK's S3 client links its endpoint rule set, checksum, express-session and
// presigning machinery into every binary that constructs it: about 1 MB of the analytics
// function, which only ever writes whole data-lake objects (see bench/REPORT.md). Client
// signs one PUT with the SDK's own SigV4 signer, sends it on the aws.Config's HTTP client
// and retries with the config's retryer, and it has PutObject's signature, so pkg/lake
// takes it in place of *s3.Client.
package s3put

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// Client puts objects into S3 buckets.
type Client struct {
	cfg    aws.Config
	signer *v4.Signer
	now    func() time.Time
}

// New returns a Client for cfg's region, credentials, HTTP client and retryer. With
// cfg.BaseEndpoint set (moto, LocalStack) it addresses buckets path-style
// (<endpoint>/<bucket>/<key>), since emulators serve no bucket subdomains; otherwise
// virtual-hosted style, https://<bucket>.s3.<region>.<DNS suffix of the region's
// partition>/<key> (amazonaws.com, amazonaws.com.cn in China, ...: see DNSSuffix).
func New(cfg aws.Config) *Client {
	return &Client{cfg: cfg, signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }), now: time.Now}
}

// Error is an S3 error answer.
type Error struct {
	Status  int
	Code    string // S3's error code, e.g. NoSuchBucket, AccessDenied, SlowDown
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return "s3 PutObject: " + strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
}

// HTTPStatusCode lets the SDK's retryer classify e (5xx and 429 are retried).
func (e *Error) HTTPStatusCode() int { return e.Status }

// ErrorCode lets the SDK's retryer classify e (SlowDown and friends are throttles).
func (e *Error) ErrorCode() string { return e.Code }

// ErrInvalidInput is returned by PutObject for a request without bucket, key or body.
var ErrInvalidInput = errors.New("s3put: PutObject needs Bucket, Key and Body")

// PutObject uploads in.Body as in.Key of in.Bucket, with in.ContentType when set. It
// reads the body into memory (data-lake batches are small) to sign its SHA-256. Only
// Bucket, Key, Body and ContentType are sent; optFns are ignored. It returns
// ErrInvalidInput, an *Error for an S3 error answer, or the transport's or context's
// error, after the config's retryer has given up.
func (c *Client) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if in == nil || aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" || in.Body == nil {
		return nil, ErrInvalidInput
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	var retryer aws.Retryer
	if c.cfg.Retryer != nil {
		retryer = c.cfg.Retryer()
	}
	for attempt := 1; ; attempt++ {
		out, err := c.put(ctx, in, body, hash)
		if err == nil || ctx.Err() != nil || retryer == nil || attempt >= retryer.MaxAttempts() || !retryer.IsErrorRetryable(err) {
			return out, err
		}
		delay, derr := retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// URL returns the object URL PutObject sends to.
func (c *Client) URL(bucket, key string) string {
	path := "/" + httpbinding.EscapePath(key, false)
	if c.cfg.BaseEndpoint != nil {
		return strings.TrimSuffix(*c.cfg.BaseEndpoint, "/") + "/" + httpbinding.EscapePath(bucket, true) + path
	}
	return "https://" + bucket + ".s3." + c.cfg.Region + "." + DNSSuffix(c.cfg.Region) + path
}

// partitions are the AWS partitions other than aws (the default), each as the region
// name prefix that selects it and its DNS suffix, from the SDK's partitions.json
// (internal/endpoints/awsrulesfn, not importable; TestDNSSuffixMatchesTheSDK keeps the
// two in step). us-gov shares aws's suffix but is listed so it can never fall to
// another prefix; the longer us-iso* prefixes come before us-iso-.
var partitions = []struct{ prefix, suffix string }{
	{"cn-", "amazonaws.com.cn"},
	{"us-gov-", "amazonaws.com"},
	{"us-isob-", "sc2s.sgov.gov"},
	{"us-isof-", "csp.hci.ic.gov"},
	{"us-iso-", "c2s.ic.gov"},
	{"eu-isoe-", "cloud.adc-e.uk"},
	{"eusc-", "amazonaws.eu"},
}

// DNSSuffix returns the DNS suffix of the partition region belongs to: amazonaws.com for
// the aws and aws-us-gov partitions, amazonaws.com.cn for aws-cn, and the suffixes of
// the isolated and sovereign partitions.
func DNSSuffix(region string) string {
	for _, p := range partitions {
		if strings.HasPrefix(region, p.prefix) {
			return p.suffix
		}
	}
	return "amazonaws.com"
}

func (c *Client) put(ctx context.Context, in *s3.PutObjectInput, body []byte, hash string) (*s3.PutObjectOutput, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.URL(*in.Bucket, *in.Key), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	if ct := aws.ToString(in.ContentType); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if c.cfg.Credentials == nil {
		return nil, errors.New("s3put: aws.Config has no credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.signer.SignHTTP(ctx, creds, req, hash, "s3", c.cfg.Region, c.now()); err != nil {
		return nil, err
	}
	var hc aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		hc = c.cfg.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Status: resp.StatusCode, Code: xmlField(answer, "Code"), Message: xmlField(answer, "Message")}
	}
	out := &s3.PutObjectOutput{}
	if etag := resp.Header.Get("ETag"); etag != "" {
		out.ETag = aws.String(etag)
	}
	return out, nil
}

// xmlField returns the text of the first <name> element of an S3 error document; S3's
// errors are flat, so this spares the binary encoding/xml.
func xmlField(doc []byte, name string) string {
	s := string(doc)
	i := strings.Index(s, "<"+name+">")
	if i < 0 {
		return ""
	}
	s = s[i+len(name)+2:]
	if j := strings.Index(s, "</"+name+">"); j >= 0 {
		return s[:j]
	}
	return ""
}
