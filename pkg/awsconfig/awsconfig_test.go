package awsconfig_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/pkg/awsconfig"
)

var allVars = []string{
	awsconfig.EnvRegion, awsconfig.EnvDefaultRegion, awsconfig.EnvAccessKeyID, awsconfig.EnvSecretAccessKey,
	awsconfig.EnvSessionToken, awsconfig.EnvEndpointURL, awsconfig.EnvMaxAttempts,
}

// setEnv clears every variable FromEnv reads, then sets env.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, n := range allVars {
		t.Setenv(n, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

var lambdaEnv = map[string]string{
	"AWS_REGION":            "eu-west-1",
	"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
	"AWS_SECRET_ACCESS_KEY": "secret",
	"AWS_SESSION_TOKEN":     "session",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantErr      []error
		wantRegion   string
		wantToken    string
		wantEndpoint string
		wantAttempts int
	}{
		{name: "lambda environment", env: lambdaEnv, wantRegion: "eu-west-1", wantToken: "session", wantAttempts: 3},
		{name: "default region fallback", env: with(lambdaEnv, "AWS_REGION", "", "AWS_DEFAULT_REGION", "us-east-2"),
			wantRegion: "us-east-2", wantToken: "session", wantAttempts: 3},
		{name: "AWS_REGION wins over default", env: with(lambdaEnv, "AWS_DEFAULT_REGION", "us-east-2"),
			wantRegion: "eu-west-1", wantToken: "session", wantAttempts: 3},
		{name: "no session token", env: with(lambdaEnv, "AWS_SESSION_TOKEN", ""), wantRegion: "eu-west-1", wantAttempts: 3},
		{name: "endpoint override", env: with(lambdaEnv, "AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
			wantRegion: "eu-west-1", wantToken: "session", wantEndpoint: "http://127.0.0.1:5000", wantAttempts: 3},
		// template.yaml declares AWS_ENDPOINT_URL empty (so `sam local invoke --env-vars`
		// may set it): deployed, the variable exists and is empty, which means no override.
		{name: "empty endpoint is no override", env: with(lambdaEnv, "AWS_ENDPOINT_URL", ""),
			wantRegion: "eu-west-1", wantToken: "session", wantAttempts: 3},
		{name: "max attempts override", env: with(lambdaEnv, "AWS_MAX_ATTEMPTS", "5"),
			wantRegion: "eu-west-1", wantToken: "session", wantAttempts: 5},
		{name: "no region", env: with(lambdaEnv, "AWS_REGION", ""), wantErr: []error{awsconfig.ErrNoRegion}},
		{name: "no key id", env: with(lambdaEnv, "AWS_ACCESS_KEY_ID", ""), wantErr: []error{awsconfig.ErrNoCredentials}},
		{name: "no secret", env: with(lambdaEnv, "AWS_SECRET_ACCESS_KEY", ""), wantErr: []error{awsconfig.ErrNoCredentials}},
		{name: "empty environment reports everything", env: nil,
			wantErr: []error{awsconfig.ErrNoRegion, awsconfig.ErrNoCredentials}},
		{name: "relative endpoint", env: with(lambdaEnv, "AWS_ENDPOINT_URL", "localhost:5000"), wantErr: []error{awsconfig.ErrInvalidEnv}},
		{name: "endpoint without host", env: with(lambdaEnv, "AWS_ENDPOINT_URL", "http://"), wantErr: []error{awsconfig.ErrInvalidEnv}},
		{name: "zero attempts", env: with(lambdaEnv, "AWS_MAX_ATTEMPTS", "0"), wantErr: []error{awsconfig.ErrInvalidEnv}},
		{name: "non-numeric attempts", env: with(lambdaEnv, "AWS_MAX_ATTEMPTS", "three"), wantErr: []error{awsconfig.ErrInvalidEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			cfg, err := awsconfig.FromEnv()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("FromEnv() error = nil, want %v", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !errors.Is(err, want) {
						t.Errorf("FromEnv() error = %v, want it to wrap %v", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv() error = %v", err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("Region = %q, want %q", cfg.Region, tt.wantRegion)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("Credentials.Retrieve() error = %v", err)
			}
			if creds.AccessKeyID != tt.env["AWS_ACCESS_KEY_ID"] || creds.SecretAccessKey != tt.env["AWS_SECRET_ACCESS_KEY"] ||
				creds.SessionToken != tt.wantToken {
				t.Errorf("credentials = %q/%q/%q, want %q/%q/%q", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken,
					tt.env["AWS_ACCESS_KEY_ID"], tt.env["AWS_SECRET_ACCESS_KEY"], tt.wantToken)
			}
			gotEndpoint := ""
			if cfg.BaseEndpoint != nil {
				gotEndpoint = *cfg.BaseEndpoint
			}
			if gotEndpoint != tt.wantEndpoint {
				t.Errorf("BaseEndpoint = %q, want %q", gotEndpoint, tt.wantEndpoint)
			}
			if cfg.Retryer == nil {
				t.Fatal("Retryer = nil")
			}
			if got := cfg.Retryer().MaxAttempts(); got != tt.wantAttempts {
				t.Errorf("Retryer().MaxAttempts() = %d, want %d", got, tt.wantAttempts)
			}
			if cfg.HTTPClient == nil {
				t.Error("HTTPClient = nil")
			}
		})
	}
}

func TestFromEnvSharesHTTPClient(t *testing.T) {
	setEnv(t, lambdaEnv)
	a, errA := awsconfig.FromEnv()
	b, errB := awsconfig.FromEnv()
	if errA != nil || errB != nil {
		t.Fatalf("FromEnv() errors = %v, %v", errA, errB)
	}
	if a.HTTPClient != b.HTTPClient {
		t.Error("two configs got different HTTP clients; connections would not be reused")
	}
	if a.HTTPClient != awsconfig.HTTPClient() {
		t.Error("FromEnv's HTTP client is not HTTPClient(), the mended one")
	}
}

// TestFromEnvAgainstEndpoint drives a real SDK client through the config: the request
// must reach the override endpoint, be signed with the env credentials for the env
// region, and be retried the configured number of times on a 5xx.
func TestFromEnvAgainstEndpoint(t *testing.T) {
	tests := []struct {
		name         string
		maxAttempts  string
		failFirst    int64
		wantRequests int64
		wantErr      bool
	}{
		{name: "success first time", failFirst: 0, wantRequests: 1},
		{name: "default retries recover", failFirst: 2, wantRequests: 3},
		{name: "default gives up after 3", failFirst: 10, wantRequests: 3, wantErr: true},
		{name: "one attempt means no retry", maxAttempts: "1", failFirst: 1, wantRequests: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			var authHeader, tokenHeader atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := requests.Add(1)
				authHeader.Store(r.Header.Get("Authorization"))
				tokenHeader.Store(r.Header.Get("X-Amz-Security-Token"))
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				if n <= tt.failFirst {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte(`{"__type":"InternalError","message":"boom"}`))
					return
				}
				_, _ = w.Write([]byte(`{"QueueUrls":["http://127.0.0.1/000000000000/q"]}`))
			}))
			defer srv.Close()
			setEnv(t, with(lambdaEnv, "AWS_ENDPOINT_URL", srv.URL, "AWS_MAX_ATTEMPTS", tt.maxAttempts))

			cfg, err := awsconfig.FromEnv()
			if err != nil {
				t.Fatalf("FromEnv() error = %v", err)
			}
			// Shorten the backoff only; the attempt count still comes from the config.
			client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
				o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
			if got := requests.Load(); got != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", got, tt.wantRequests)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("ListQueues() error = nil, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ListQueues() error = %v", err)
			}
			if len(out.QueueUrls) != 1 {
				t.Errorf("QueueUrls = %v, want one", out.QueueUrls)
			}
			auth, _ := authHeader.Load().(string)
			if !strings.Contains(auth, "Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/sqs/aws4_request") {
				t.Errorf("Authorization = %q, want SigV4 with the env key id and region", auth)
			}
			if tok, _ := tokenHeader.Load().(string); tok != "session" {
				t.Errorf("X-Amz-Security-Token = %q, want %q", tok, "session")
			}
		})
	}
}

func TestGetenv(t *testing.T) {
	tests := []struct {
		name, value, def, want string
	}{
		{name: "set", value: "orders", def: "x", want: "orders"},
		{name: "empty falls back", value: "", def: "myapp.orders", want: "myapp.orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ORDERFLOW_TEST_VAR", tt.value)
			if got := awsconfig.Getenv("ORDERFLOW_TEST_VAR", tt.def); got != tt.want {
				t.Errorf("Getenv() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		names       []string
		wantMissing []string
		wantValues  map[string]string
	}{
		{name: "all present", env: map[string]string{"OF_A": "a", "OF_B": "b"}, names: []string{"OF_A", "OF_B"},
			wantValues: map[string]string{"OF_A": "a", "OF_B": "b"}},
		{name: "every missing one is listed", env: map[string]string{"OF_A": "a", "OF_B": "", "OF_C": ""},
			names: []string{"OF_B", "OF_A", "OF_C"}, wantMissing: []string{"OF_B", "OF_C"},
			wantValues: map[string]string{"OF_A": "a"}},
		{name: "nothing required", names: nil, wantValues: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := awsconfig.Require(tt.names...)
			var missing *awsconfig.MissingEnvError
			switch {
			case tt.wantMissing == nil && err != nil:
				t.Fatalf("Require() error = %v", err)
			case tt.wantMissing != nil:
				if !errors.As(err, &missing) {
					t.Fatalf("Require() error = %v, want *MissingEnvError", err)
				}
				if strings.Join(missing.Names, ",") != strings.Join(tt.wantMissing, ",") {
					t.Errorf("missing = %v, want %v", missing.Names, tt.wantMissing)
				}
				for _, n := range tt.wantMissing {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("error %q does not name %s", err, n)
					}
				}
			}
			if len(got) != len(tt.wantValues) {
				t.Errorf("values = %v, want %v", got, tt.wantValues)
			}
			for k, v := range tt.wantValues {
				if got[k] != v {
					t.Errorf("values[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
