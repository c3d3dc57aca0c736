// Package awstest runs integration tests against the AWS API emulator: one
// emulator per test binary, started on the first Env call and stopped when
// the tests end.
//
// Use it from a package's tests:
//
//	func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }
//
//	func TestStore(t *testing.T) {
//		env := awstest.Env(t)
//		table := env.CreateTable(t, awstest.TableSpec{Name: env.Name(t, "orders"), HashKey: "order_id"})
//		...
//	}
//
// Where moto is not installed the integration tests are skipped, except with
// CI=true, where that fails the run. With -short they are skipped too. With
// AWSTEST_ENDPOINT set, tests use that endpoint (LocalStack, a running moto)
// instead of starting an emulator.
package awstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkretry "github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/retry"
	"github.com/orderflow/orderflow/tools/emulator"
)

// EndpointEnv names the variable that points the tests at an emulator that is
// already running instead of starting one (LocalStack: http://localhost:4566), or, with
// the value RealAWS, at the AWS account of the credentials in the environment.
const EndpointEnv = "AWSTEST_ENDPOINT"

// RealAWS as the value of EndpointEnv runs the tests against a real account: region and
// credentials come from AWS_REGION and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// (/AWS_SESSION_TOKEN). Every resource has a unique name and is deleted by the test.
const RealAWS = "aws"

// startTimeout bounds the emulator's start.
const startTimeout = 60 * time.Second

var (
	mu       sync.Mutex
	inMain   bool
	started  bool
	server   *emulator.Server
	endpoint string
	startErr error
)

// Main runs the tests of m with an emulator shared by the test binary and
// returns the exit code for os.Exit. The emulator is started by the first
// Env call, so a binary whose tests never call Env starts none. Main stops
// it when the tests end or on SIGINT/SIGTERM, and fails the run (exit code 1)
// if a process it started is still running after that.
func Main(m *testing.M) int {
	mu.Lock()
	inMain = true
	mu.Unlock()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "awstest: %v: stopping the emulator\n", sig)
			stop()
			os.Exit(1)
		case <-done:
		}
	}()

	code := m.Run()
	close(done)
	signal.Stop(sigs)
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "awstest: %v\n", err)
		return 1
	}
	return code
}

// stop stops the emulator if one was started and checks that none of its
// processes is left.
func stop() error {
	mu.Lock()
	defer mu.Unlock()
	if server == nil {
		return nil
	}
	server.Stop()
	if server.Running() {
		return fmt.Errorf("emulator process group %d still running after Stop", server.PID)
	}
	return nil
}

// Environment is the emulator a test talks to; Env returns it. (The type
// cannot be called Env as well in Go.)
type Environment struct {
	// Endpoint is the emulator's base URL.
	Endpoint string
	// Config points SDK clients at Endpoint (region us-east-1, test
	// credentials).
	Config aws.Config
}

// Env returns the test binary's emulator, starting it on first use. It skips
// the test in -short mode and where moto is not installed (unless CI=true,
// where a missing moto fails the test), and fails the test if the emulator
// does not start or TestMain does not call Main.
func Env(t testing.TB) *Environment {
	t.Helper()
	if testing.Short() {
		t.Skip("awstest: integration test skipped in -short mode")
	}
	ep, err := ensureStarted()
	switch {
	case errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true":
		t.Skipf("awstest: integration test skipped: %v", err)
	case err != nil:
		t.Fatalf("awstest: %v", err)
	}
	if ep == RealAWS {
		cfg, err := awsconfig.FromEnv()
		if err != nil {
			t.Fatalf("awstest: %s=%s: %v", EndpointEnv, RealAWS, err)
		}
		return &Environment{Endpoint: ep, Config: cfg}
	}
	cfg := emulator.Config(ep)
	cfg.Retryer = func() aws.Retryer { return toldRetries{sdkretry.NewStandard()} }
	return &Environment{Endpoint: ep, Config: cfg}
}

// toldRetries is the SDK's standard retryer that writes every error it retries to
// stderr, which go test shows when the package fails: a test that fails because the
// SDK retried a write the emulator had applied (its answer lost) says so, with the
// error that was retried.
type toldRetries struct{ aws.RetryerV2 }

func (r toldRetries) IsErrorRetryable(err error) bool {
	ok := r.RetryerV2.IsErrorRetryable(err)
	if ok {
		fmt.Fprintf(os.Stderr, "awstest: the SDK retries after: %v\n", err)
	}
	return ok
}

func ensureStarted() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return endpoint, startErr
	}
	started = true
	if ep := os.Getenv(EndpointEnv); ep != "" {
		endpoint = ep
		return endpoint, nil
	}
	if !inMain {
		startErr = errors.New("no emulator: the package's TestMain must call os.Exit(awstest.Main(m))")
		return "", startErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	server, startErr = emulator.Start(ctx, emulator.Options{})
	if startErr != nil {
		if errors.Is(startErr, emulator.ErrNotInstalled) && os.Getenv("CI") == "true" {
			startErr = fmt.Errorf("CI=true and the emulator is missing: %w", startErr)
		}
		return "", startErr
	}
	endpoint = server.Endpoint
	return endpoint, nil
}

// runID keeps names from two test runs against one shared endpoint apart.
var (
	runID     = strconv.FormatUint(rand.Uint64()%(36*36*36*36), 36)
	nameCount atomic.Int64
)

// maxNameLen keeps names valid as S3 buckets (63) and leaves room for a
// ".fifo" suffix within SQS's 80.
const maxNameLen = 63

// Name returns a resource name unique in the test binary (and, through a
// random run id, across runs): base, the test's name and a counter, in lower
// case letters, digits and hyphens, at most 63 characters. It is valid for
// SQS queues (append ".fifo" for FIFO), DynamoDB tables, EventBridge buses
// and rules, SNS topics, Kinesis streams, state machines and S3 buckets.
func (e *Environment) Name(t testing.TB, base string) string {
	return name(t.Name(), base)
}

func name(testName, base string) string {
	suffix := "-" + runID + "-" + strconv.FormatInt(nameCount.Add(1), 10)
	b := sanitize(base)
	if b == "" {
		b = "r"
	}
	b = trim(b, 24)
	tn := trim(sanitize(strings.TrimPrefix(testName, "Test")), maxNameLen-len(b)-len(suffix)-1)
	if tn == "" {
		return b + suffix
	}
	return b + "-" + tn + suffix
}

// sanitize lowercases s and turns every run of other characters than
// letters and digits into one hyphen, with none at either end.
func sanitize(s string) string {
	var sb strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			hyphen = false
			sb.WriteRune(r)
			continue
		}
		hyphen = true
	}
	return sb.String()
}

func trim(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// Eventually polls cond until it returns true, failing the test with cond's
// last message when timeout passes first. Use it instead of sleeps for
// anything asynchronous: deliveries, redrives, executions.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n := 1; ; n++ {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, msg)
			return
		}
		time.Sleep(min(retry.Delay(n, 10*time.Millisecond, 100*time.Millisecond), time.Until(deadline)+time.Millisecond))
	}
}
