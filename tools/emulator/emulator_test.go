package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// start runs an emulator for one test, skipping when moto is not installed
// outside CI, and stops it at the end of the test.
func start(t *testing.T, opts emulator.Options) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := emulator.Start(ctx, opts)
	if errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("emulator not installed: %v", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{})
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want http://127.0.0.1:PORT", s.Endpoint)
	}
	if !s.Running() {
		t.Fatal("Running() = false right after Start")
	}
	ctx := context.Background()
	cfg := emulator.Config(s.Endpoint)

	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("start-stop")})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if !strings.Contains(aws.ToString(q.QueueUrl), "start-stop") {
		t.Errorf("QueueUrl = %q", aws.ToString(q.QueueUrl))
	}

	// S3 must work with the plain config (path-style because the host is an IP).
	s3c := s3.NewFromConfig(cfg)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("start-stop")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("start-stop"), Key: aws.String("k"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("start-stop"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "hello" {
		t.Errorf("object body = %q, want hello", body)
	}

	if err := s.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	list, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	if len(list.QueueUrls) != 0 {
		t.Errorf("queues after Reset = %v, want none", list.QueueUrls)
	}

	s.Stop()
	if s.Running() {
		t.Errorf("process group %d still running after Stop", s.PID)
	}
	s.Stop() // idempotent
	if _, err := http.Get(s.Endpoint + "/moto-api/config"); err == nil {
		t.Error("endpoint still answers after Stop")
	}
}

func TestStartNotInstalled(t *testing.T) {
	t.Parallel()
	// A moto module that fails to import stands in for a machine without moto.
	fakeMoto := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeMoto, "moto.py"), []byte("raise ImportError('no moto here')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts emulator.Options
	}{
		{name: "no python", opts: emulator.Options{Python: filepath.Join(t.TempDir(), "python3")}},
		{name: "no moto", opts: emulator.Options{Env: []string{"PYTHONPATH=" + fakeMoto}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := emulator.Start(context.Background(), tt.opts)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded, want ErrNotInstalled")
			}
			if !errors.Is(err, emulator.ErrNotInstalled) {
				t.Fatalf("err = %v, want ErrNotInstalled", err)
			}
			if !strings.Contains(err.Error(), emulator.InstallHint) {
				t.Errorf("err = %v, want the install hint %q", err, emulator.InstallHint)
			}
		})
	}
}

const passMachine = `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}`

// TestSecondStartExecution covers getmoto/moto#10077: with the shim a state
// machine runs any number of times; without it the second StartExecution
// fails exactly when the shim reports that it had to patch moto.
func TestSecondStartExecution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       []string
		unpatched bool
	}{
		{name: "shim", env: nil},
		{name: "unpatched moto", env: []string{"MOTO_SHIM_DISABLE=1"}, unpatched: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log awstest.SyncBuffer
			s := start(t, emulator.Options{Env: tt.env, Log: &log})
			ctx := context.Background()
			// No retries: the unpatched server's 500s must not cost backoff time.
			c := sfn.NewFromConfig(emulator.Config(s.Endpoint), func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
			sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
				Name:       aws.String("pass"),
				Definition: aws.String(passMachine),
				RoleArn:    aws.String("arn:aws:iam::123456789012:role/sfn"),
			})
			if err != nil {
				t.Fatalf("CreateStateMachine: %v", err)
			}

			status := shimStatus(t, &log)
			buggy := strings.Contains(status, "NOT applied")
			t.Logf("shim said: %s", status)
			for i, name := range []string{"first", "second", "third"} {
				out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{
					StateMachineArn: sm.StateMachineArn,
					Name:            aws.String(name),
					Input:           aws.String(`{}`),
				})
				if tt.unpatched && buggy && i > 0 {
					if err == nil {
						t.Fatalf("StartExecution %s succeeded on unpatched moto that the shim found buggy", name)
					}
					if !strings.Contains(err.Error(), "500") {
						t.Fatalf("StartExecution %s: %v, want HTTP 500", name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("StartExecution %s: %v", name, err)
				}
				waitSucceeded(t, c, aws.ToString(out.ExecutionArn))
			}
		})
	}
}

// TestLambdaEndpointPort checks that Step Functions task calls go to the
// LambdaEndpointPort, where the local stack serves the Lambda Invoke API.
func TestLambdaEndpointPort(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	lambdaAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"answer":42}`)
	}))
	defer lambdaAPI.Close()
	s := start(t, emulator.Options{LambdaEndpointPort: lambdaAPI.Listener.Addr().(*net.TCPAddr).Port})

	ctx := context.Background()
	c := sfn.NewFromConfig(emulator.Config(s.Endpoint))
	def := `{"StartAt":"Call","States":{"Call":{"Type":"Task",` +
		`"Resource":"arn:aws:states:::lambda:invoke",` +
		`"Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:fake","Payload.$":"$"},` +
		`"OutputPath":"$.Payload","End":true}}}`
	sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("lambda"),
		Definition: aws.String(def),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/sfn"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Input: aws.String(`{"q":1}`)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	desc := waitSucceeded(t, c, aws.ToString(out.ExecutionArn))
	var got map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(desc.Output)), &got); err != nil || got["answer"] != float64(42) {
		t.Errorf("execution output = %s (%v), want the fake Lambda's answer", aws.ToString(desc.Output), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || !strings.HasSuffix(paths[0], "/functions/arn:aws:lambda:us-east-1:123456789012:function:fake/invocations") {
		t.Errorf("Lambda endpoint got %v, want one Invoke of the function", paths)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		wantErr  error
	}{
		{name: "set", endpoint: "http://127.0.0.1:4566"},
		{name: "unset", endpoint: "", wantErr: emulator.ErrNoEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", tt.endpoint)
			cfg, err := emulator.ConfigFromEnv()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if aws.ToString(cfg.BaseEndpoint) != tt.endpoint || cfg.Region != "us-east-1" {
				t.Errorf("BaseEndpoint, Region = %q, %q", aws.ToString(cfg.BaseEndpoint), cfg.Region)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
				t.Errorf("credentials = %+v, %v; want test/test", creds, err)
			}
		})
	}
}

func waitSucceeded(t *testing.T, c *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		switch d.Status {
		case sfntypes.ExecutionStatusSucceeded:
			return d
		case sfntypes.ExecutionStatusRunning:
		default:
			t.Fatalf("execution %s: %s (%s: %s)", arn, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still RUNNING after 10s", arn)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shimStatus waits for the shim's status line in the server's output.
func shimStatus(t *testing.T, log *awstest.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.HasPrefix(line, "moto_server_shim:") {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status line from the shim in:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
