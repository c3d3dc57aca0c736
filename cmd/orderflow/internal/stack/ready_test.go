package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// Nothing answers before the stack is ready: the edge and the HTTP API refuse with 503
// and a message naming `orderflow local wait` (never a ResourceNotFoundException from a
// table not created yet), and a script that waits (WaitReady, what `orderflow local
// wait` runs) and then runs `orderflow stock set` succeeds.
func TestReadyBeforeUse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto")
	}
	started := make(chan *Stack, 1)
	release := make(chan struct{})
	type upResult struct {
		s   *Stack
		err error
	}
	done := make(chan upResult, 1)
	go func() {
		s, err := Up(context.Background(), Options{Template: filepath.Join(repoRoot(t), "template.yaml"), LockDir: t.TempDir(),
			SkipFunctions: true, listening: func(s *Stack) { started <- s }, beforeReady: func(*Stack) { <-release }})
		done <- upResult{s, err}
	}()
	var s *Stack
	select {
	case s = <-started:
	case r := <-done:
		if errors.Is(r.err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
			t.Skip(r.err)
		}
		t.Fatalf("Up returned before listening: %v", r.err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
		if r := <-done; r.s != nil {
			r.s.Close()
		}
	})
	ctx := context.Background()
	stockSet := func(qty string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, []string{"stock", "set", "--aws-endpoint", s.EdgeURL, "SKU-READY-1", qty, "--price", "100"}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := stockSet("5"); code == 0 || !strings.Contains(out, "orderflow local wait") || strings.Contains(out, "ResourceNotFound") {
		t.Errorf("stock set before ready: exit %d: %s; want a failure that says to wait", code, out)
	}
	resp, err := http.Get(s.HTTPURL + "/orders/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "orderflow local wait") {
		t.Errorf("HTTP API before ready: %d %s", resp.StatusCode, body)
	}

	// The script: wait, then stock set. It must be seen waiting before the stack is
	// released (a refused readiness probe), and succeed after.
	refused := s.ready.Refused()
	script := make(chan string, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := WaitReady(wctx, s.EdgeURL, s.HTTPURL); err != nil {
			script <- "wait: " + err.Error()
			return
		}
		if code, out := stockSet("7"); code != 0 {
			script <- fmt.Sprintf("stock set after wait: exit %d: %s", code, out)
			return
		}
		script <- ""
	}()
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		return s.ready.Refused() > refused, "the script has not asked whether the stack is ready"
	})
	close(release)
	released = true
	if msg := <-script; msg != "" {
		t.Fatal(msg)
	}
	var out, errOut bytes.Buffer
	if code := cli.Run(ctx, []string{"stock", "get", "--aws-endpoint", s.EdgeURL, "SKU-READY-1"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "7") {
		t.Errorf("stock get: exit %d: %s%s", code, out.String(), errOut.String())
	}
}

// WaitReadyFile waits for a complete ready file and gives up when ctx ends.
func TestWaitReadyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := WaitReadyFile(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no file: %v, want the deadline", err)
	}
	if err := os.WriteFile(path, []byte(`{"edgeUrl":"http://127.0.0.1:1"`), 0o644); err != nil { // half written
		t.Fatal(err)
	}
	done := make(chan ReadyInfo, 1)
	go func() {
		info, _ := WaitReadyFile(context.Background(), path)
		done <- info
	}()
	s := &Stack{EdgeURL: "http://127.0.0.1:1", HTTPURL: "http://127.0.0.1:2"}
	if err := s.WriteReadyFile(path); err != nil {
		t.Fatal(err)
	}
	if info := <-done; info.EdgeURL != s.EdgeURL || info.HTTPURL != s.HTTPURL {
		t.Errorf("read %+v", info)
	}
}
