package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// api answers each POST with the next of its answers (the last one repeats) and records
// what it was sent.
type api struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	keys    []string
	bodies  []string
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	n := len(a.keys)
	a.keys = append(a.keys, r.Header.Get("Idempotency-Key"))
	a.bodies = append(a.bodies, string(b))
	answer := a.answers[min(n, len(a.answers)-1)]
	a.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/orders" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	answer(w)
}

func status(code int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func TestPostRetriesWithTheSameKeyAndBody(t *testing.T) {
	fast := Rule{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond}
	accepted := status(http.StatusAccepted, `{"orderId":"o-1","status":"PENDING"}`)
	for _, tt := range []struct {
		name        string
		answers     []func(http.ResponseWriter)
		wantStatus  int
		wantRetries int
		wantID      string
	}{
		{"accepted at once", []func(http.ResponseWriter){accepted}, 202, 0, "o-1"},
		{"5xx, 429 and in-progress are retried", []func(http.ResponseWriter){status(503, `{}`), status(429, `{}`),
			status(409, `{"error":{"code":"REQUEST_IN_PROGRESS"}}`), accepted}, 202, 3, "o-1"},
		{"a client error is final", []func(http.ResponseWriter){status(400, `{"error":{"code":"VALIDATION"}}`), accepted}, 400, 0, ""},
		{"another conflict is final", []func(http.ResponseWriter){status(409, `{"error":{"code":"IDEMPOTENCY_KEY_REUSED"}}`), accepted}, 409, 0, ""},
		{"gives up after Attempts", []func(http.ResponseWriter){status(500, `{}`)}, 500, 3, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &api{answers: tt.answers}
			srv := httptest.NewServer(a)
			defer srv.Close()
			p := &Poster{API: srv.URL + "/", Rule: fast}
			res := p.Post(context.Background(), "k-1", []byte(`{"n":1}`))
			if res.Err != nil || res.Status != tt.wantStatus || res.Retries != tt.wantRetries || res.OrderID != tt.wantID {
				t.Fatalf("Post = status %d, retries %d, id %q, err %v; want %d, %d, %q", res.Status, res.Retries, res.OrderID, res.Err,
					tt.wantStatus, tt.wantRetries, tt.wantID)
			}
			if len(a.keys) != tt.wantRetries+1 {
				t.Fatalf("%d POSTs, want %d", len(a.keys), tt.wantRetries+1)
			}
			for i := range a.keys {
				if a.keys[i] != "k-1" || a.bodies[i] != `{"n":1}` {
					t.Errorf("POST %d: key %q body %q, want the first's", i, a.keys[i], a.bodies[i])
				}
			}
		})
	}
}

func TestPostGivesUpWithin(t *testing.T) {
	a := &api{answers: []func(http.ResponseWriter){status(502, `{}`)}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	p := &Poster{API: srv.URL, Rule: Rule{Within: 30 * time.Millisecond, Base: 5 * time.Millisecond, Max: 10 * time.Millisecond}}
	res := p.Post(context.Background(), "k", nil)
	if res.Status != 502 || res.Retries < 2 || res.Latency < 30*time.Millisecond {
		t.Fatalf("Post = status %d after %d retries in %v; want 502 after retrying for 30 ms", res.Status, res.Retries, res.Latency)
	}
}

func TestPostTransportErrorIsRetriedThenReported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens: every POST is a transport error
	p := &Poster{API: srv.URL, Rule: Rule{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}}
	if res := p.Post(context.Background(), "k", nil); res.Err == nil || res.Retries != 2 {
		t.Fatalf("Post to a closed server = retries %d, err %v; want 2 retries and the transport error", res.Retries, res.Err)
	}
}

func TestRunCallsEachIndexOnceWithinConcurrency(t *testing.T) {
	const n, c = 50, 4
	var seen [n]atomic.Int32
	var running, peak atomic.Int32
	Run(context.Background(), n, c, func(i int) {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		time.Sleep(time.Millisecond) // hold the slot so the workers overlap
		running.Add(-1)
		seen[i].Add(1)
	})
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("index %d run %d times, want once", i, seen[i].Load())
		}
	}
	if p := peak.Load(); p > c {
		t.Fatalf("%d ran at once, want at most %d", p, c)
	}
}

func TestRunStopsFeedingWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	Run(ctx, 1000, 2, func(int) {
		if ran.Add(1) == 3 {
			cancel()
		}
	})
	if n := ran.Load(); n > 5 { // the 3rd, the 4th in the other worker, the 5th the feeder was offering
		t.Fatalf("%d orders started after ctx ended at the 3rd, want at most the workers in flight", n)
	}
}
