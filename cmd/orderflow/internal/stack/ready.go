package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
)

// WaitReady polls each base URL's readiness path (edge.ReadyPath: the edge's and the
// HTTP API's) until every one answers 200, and returns nil; or ctx's error with the last
// answer when ctx ends first. It is `orderflow local wait`: what a script runs after
// starting `orderflow local up` and before using the stack.
func WaitReady(ctx context.Context, baseURLs ...string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for _, base := range baseURLs {
		url := strings.TrimRight(base, "/") + edge.ReadyPath
		last := "no answer yet"
		for {
			ok, why := probe(ctx, client, url)
			if ok {
				break
			}
			last = why
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s not ready: %w (last: %s)", base, ctx.Err(), last)
			case <-t.C:
			}
		}
	}
	return nil
}

// probe asks url once; it reports whether it answered 200, else what it answered.
func probe(ctx context.Context, c *http.Client, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}

// WaitReadyFile waits until path holds a complete ReadyInfo (as `orderflow local up
// --ready-file` writes it, atomically, once the stack is ready) and returns it; or ctx's
// error when ctx ends first.
func WaitReadyFile(ctx context.Context, path string) (ReadyInfo, error) {
	for {
		var info ReadyInfo
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &info) == nil && info.EdgeURL != "" && info.HTTPURL != "" {
			return info, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return info, fmt.Errorf("ready file %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}
