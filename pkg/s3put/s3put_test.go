package s3put_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/pkg/s3put"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

var _ lake.API = (*s3put.Client)(nil)

func config(endpoint *string) aws.Config {
	return aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "session"),
		BaseEndpoint: endpoint,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = retry.BackoffDelayerFunc(noDelay) })
		},
	}
}

func noDelay(int, error) (time.Duration, error) { return 0, nil }

func TestURL(t *testing.T) {
	tests := []struct {
		name     string
		region   string // default eu-west-1
		endpoint *string
		bucket   string
		key      string
		want     string
	}{
		{name: "AWS, virtual-hosted", bucket: "lake", key: "raw/dt=2026-01-02/b 1.ndjson",
			want: "https://lake.s3.eu-west-1.amazonaws.com/raw/dt%3D2026-01-02/b%201.ndjson"},
		{name: "aws-cn: the China partition's suffix", region: "cn-north-1", bucket: "lake", key: "raw/x.json",
			want: "https://lake.s3.cn-north-1.amazonaws.com.cn/raw/x.json"},
		{name: "aws-us-gov", region: "us-gov-west-1", bucket: "lake", key: "raw/x.json",
			want: "https://lake.s3.us-gov-west-1.amazonaws.com/raw/x.json"},
		{name: "aws-iso-b", region: "us-isob-east-1", bucket: "lake", key: "raw/x.json",
			want: "https://lake.s3.us-isob-east-1.sc2s.sgov.gov/raw/x.json"},
		{name: "endpoint override, path-style", endpoint: aws.String("http://127.0.0.1:5000/"), bucket: "lake", key: "raw/x.ndjson",
			want: "http://127.0.0.1:5000/lake/raw/x.ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(tt.endpoint)
			if tt.region != "" {
				cfg.Region = tt.region
			}
			if got := s3put.New(cfg).URL(tt.bucket, tt.key); got != tt.want {
				t.Fatalf("URL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDNSSuffixMatchesTheSDK checks DNSSuffix against the partitions the SDK itself
// resolves endpoints with (aws-sdk-go-v2's internal/endpoints/awsrulesfn/partitions.json):
// every region of every partition gets its partition's suffix, so a partition AWS adds
// fails here until s3put knows it.
func TestDNSSuffixMatchesTheSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Fatalf("locate the SDK module: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "endpoints", "awsrulesfn", "partitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Partitions []struct {
			ID      string                     `json:"id"`
			Regions map[string]json.RawMessage `json:"regions"`
			Outputs struct {
				DNSSuffix string `json:"dnsSuffix"`
			} `json:"outputs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	regions := 0
	for _, p := range doc.Partitions {
		for region := range p.Regions {
			if strings.HasPrefix(region, "aws-") { // the partition's global pseudo-region
				continue
			}
			regions++
			if got := s3put.DNSSuffix(region); got != p.Outputs.DNSSuffix {
				t.Errorf("DNSSuffix(%q) = %q, want %q (partition %s)", region, got, p.Outputs.DNSSuffix, p.ID)
			}
		}
	}
	if len(doc.Partitions) < 2 || regions < 10 {
		t.Fatalf("read %d partitions, %d regions from the SDK: not the file this test expects", len(doc.Partitions), regions)
	}
}

func TestPutObject(t *testing.T) {
	const body = `{"a":1}` + "\n"
	sum := sha256.Sum256([]byte(body))
	tests := []struct {
		name     string
		answers  []int // status of each attempt; the last one repeats
		errBody  string
		in       *s3.PutObjectInput
		wantErr  string
		wantCode string
		calls    int32
	}{
		{name: "stored", answers: []int{200}, calls: 1},
		{name: "retried after SlowDown", answers: []int{503, 200}, errBody: "<Error><Code>SlowDown</Code><Message>slow</Message></Error>", calls: 2},
		{name: "access denied is not retried", answers: []int{403}, errBody: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
			wantCode: "AccessDenied", calls: 1},
		{name: "server errors until the retryer gives up", answers: []int{500}, errBody: "<Error><Code>InternalError</Code></Error>",
			wantCode: "InternalError", calls: 3},
		{name: "no key", in: &s3.PutObjectInput{Bucket: aws.String("lake"), Body: strings.NewReader(body)}, wantErr: s3put.ErrInvalidInput.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				got, _ := io.ReadAll(r.Body)
				switch {
				case r.Method != http.MethodPut || r.URL.Path != "/lake/raw/dt=2026-01-02/b.ndjson":
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				case string(got) != body || r.ContentLength != int64(len(body)):
					t.Errorf("body %q (length %d)", got, r.ContentLength)
				case r.Header.Get("X-Amz-Content-Sha256") != hex.EncodeToString(sum[:]):
					t.Errorf("X-Amz-Content-Sha256 %q", r.Header.Get("X-Amz-Content-Sha256"))
				case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") ||
					!strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/s3/aws4_request"):
					t.Errorf("Authorization %q", r.Header.Get("Authorization"))
				case r.Header.Get("X-Amz-Security-Token") != "session" || r.Header.Get("Content-Type") != lake.ContentType:
					t.Errorf("headers %v", r.Header)
				}
				status := tt.answers[min(n, len(tt.answers))-1]
				if status != 200 {
					w.WriteHeader(status)
					io.WriteString(w, tt.errBody)
					return
				}
				w.Header().Set("ETag", `"abc"`)
			}))
			defer srv.Close()
			in := tt.in
			if in == nil {
				in = &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("raw/dt=2026-01-02/b.ndjson"),
					Body: strings.NewReader(body), ContentType: aws.String(lake.ContentType)}
			}
			out, err := s3put.New(config(aws.String(srv.URL))).PutObject(context.Background(), in)
			var s3err *s3put.Error
			switch {
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
			case tt.wantCode != "":
				if !errors.As(err, &s3err) || s3err.Code != tt.wantCode {
					t.Fatalf("error %v, want an *s3put.Error with code %s", err, tt.wantCode)
				}
			case err != nil:
				t.Fatalf("PutObject: %v", err)
			case aws.ToString(out.ETag) != `"abc"`:
				t.Fatalf("ETag %q", aws.ToString(out.ETag))
			}
			if got := calls.Load(); got != tt.calls {
				t.Fatalf("%d requests, want %d", got, tt.calls)
			}
		})
	}
}

// TestPutObjectEmulator writes through lake.Writer and reads the object back with the
// SDK's S3 client from the emulator.
func TestPutObjectEmulator(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := s3.NewFromConfig(env.Config, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := strings.ToLower(env.Name(t, "lake"))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	key, err := lake.NewWriter(s3put.New(env.Config), bucket).Write(ctx, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "batch-1", [][]byte{[]byte(`{"orderId": "o-1"}`)})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	got, _ := io.ReadAll(out.Body)
	if string(got) != `{"orderId":"o-1"}`+"\n" || aws.ToString(out.ContentType) != lake.ContentType {
		t.Fatalf("object %s = %q (%s)", key, got, aws.ToString(out.ContentType))
	}
}
