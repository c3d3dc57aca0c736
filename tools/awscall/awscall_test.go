package awscall_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/tools/awscall"
)

func auth(service string) string {
	return "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=x"
}

func TestIdentify(t *testing.T) {
	cases := []struct {
		name, method, path, service, target, ctype, body string
		wantService, wantOp                              string
	}{
		{name: "json protocol", method: "POST", path: "/", service: "dynamodb", target: "DynamoDB_20120810.PutItem", wantService: "dynamodb", wantOp: "PutItem"},
		{name: "sqs json", method: "POST", path: "/", service: "sqs", target: "AmazonSQS.SendMessage", wantService: "sqs", wantOp: "SendMessage"},
		{name: "query protocol form body", method: "POST", path: "/", service: "sns", ctype: "application/x-www-form-urlencoded; charset=utf-8", body: "Action=Publish&TopicArn=x", wantService: "sns", wantOp: "Publish"},
		{name: "query string action", method: "GET", path: "/?Action=ListQueues", service: "sqs", wantService: "sqs", wantOp: "ListQueues"},
		{name: "lambda invoke", method: "POST", path: "/2015-03-31/functions/f/invocations", service: "lambda", wantService: "lambda", wantOp: "Invoke"},
		{name: "s3 put object", method: "PUT", path: "/bucket/raw/dt=2026-01-01/x.json", service: "s3", wantService: "s3", wantOp: "PutObject"},
		{name: "s3 list v2", method: "GET", path: "/bucket?list-type=2", service: "s3", wantService: "s3", wantOp: "ListObjectsV2"},
		{name: "unsigned", method: "GET", path: "/", wantService: "unknown", wantOp: "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.service != "" {
				r.Header.Set("Authorization", auth(tc.service))
			}
			if tc.target != "" {
				r.Header.Set("X-Amz-Target", tc.target)
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			if service, op := awscall.Identify(r); service != tc.wantService || op != tc.wantOp {
				t.Fatalf("Identify = %s, %s; want %s, %s", service, op, tc.wantService, tc.wantOp)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != tc.body {
				t.Fatalf("body after Identify = %q, want %q", b, tc.body)
			}
		})
	}
}

func TestAccessKeyID(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	if got := awscall.AccessKeyID(r); got != "" {
		t.Errorf("unsigned request: %q", got)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=OFLH000000000007/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc")
	if got := awscall.AccessKeyID(r); got != "OFLH000000000007" {
		t.Errorf("AccessKeyID = %q", got)
	}
}
