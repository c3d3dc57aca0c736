package saga_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// lambdaAPI is the test binary's Lambda endpoint: moto's Step Functions send every task
// call to it (MOTO_PORT). It serves Invoke for the functions a test registers and
// proxies everything else to the emulator.
var lambdaAPI = newLambdaEndpoint()

// lambdaURL is lambdaAPI's address, set by TestMain.
var lambdaURL string

// setupSkip is why the tests skip (emulator not installed outside CI, or an external
// AWSTEST_ENDPOINT that cannot route task calls here); setupErr why they fail.
var setupSkip, setupErr string

// TestMain starts one emulator whose Step Functions send their task calls to lambdaAPI,
// then runs the tests through awstest.Main with AWSTEST_ENDPOINT pointing at it, so
// awstest's helpers (names, tables, queues, Eventually) work unchanged. The skip rules
// mirror awstest's: -short skips, a missing moto skips unless CI=true, where it fails.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		return m.Run() // every test skips through env
	}
	if ep := os.Getenv(awstest.EndpointEnv); ep != "" {
		// An emulator started elsewhere cannot send its task calls to this process.
		setupSkip = fmt.Sprintf("%s=%s is set: these tests need their own emulator, whose Step Functions call back into the test binary", awstest.EndpointEnv, ep)
		return m.Run()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "saga: listen for the Lambda endpoint: %v\n", err)
		return 1
	}
	lambdaURL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: lambdaAPI, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Close
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := emulator.Start(ctx, emulator.Options{LambdaEndpointPort: ln.Addr().(*net.TCPAddr).Port})
	cancel()
	switch {
	case errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true":
		setupSkip = fmt.Sprintf("emulator not installed: %v", err)
		return m.Run()
	case err != nil:
		setupErr = fmt.Sprintf("start the emulator: %v", err)
		return m.Run()
	}
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		s.Stop()
		fmt.Fprintf(os.Stderr, "saga: emulator endpoint %q: %v\n", s.Endpoint, err)
		return 1
	}
	lambdaAPI.setProxy(httputil.NewSingleHostReverseProxy(target))
	os.Setenv(awstest.EndpointEnv, s.Endpoint)

	code := awstest.Main(m)
	s.Stop()
	if s.Running() {
		fmt.Fprintf(os.Stderr, "saga: emulator process group %d still running after Stop\n", s.PID)
		return 1
	}
	return code
}

// env returns the emulator the tests talk to, or skips / fails the test as TestMain
// decided.
func env(t *testing.T) *awstest.Environment {
	t.Helper()
	if testing.Short() {
		t.Skip("saga: integration test skipped in -short mode")
	}
	if setupSkip != "" {
		t.Skip("saga: " + setupSkip)
	}
	if setupErr != "" {
		t.Fatal("saga: " + setupErr)
	}
	return awstest.Env(t)
}
