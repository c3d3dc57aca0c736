// Package loadgen is the one load generator of the tooling: it posts orders to the HTTP
// API at a given concurrency and retries a POST as a careful client must — the same
// Idempotency-Key and body again after a transport error, a 5xx, a 429 or a 409
// REQUEST_IN_PROGRESS, with pkg/retry's bounded, jittered backoff — so a retry never
// makes a second order. The chaos run, `orderflow load`, the bench's call count and the
// stack tests all post through it; they differ only in the Rule they pass.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/retry"
)

// Rule is how long one order's POST is retried.
type Rule struct {
	// Attempts bounds the POSTs of one order (0: no bound but Within).
	Attempts int
	// Within bounds the time from the first POST after which no retry starts (0: no
	// bound but Attempts).
	Within time.Duration
	// Base and Max are retry.Backoff's first ceiling and its cap.
	Base, Max time.Duration
}

var (
	// Patient retries for 45 s, longer than a crashed request's REQUEST_IN_PROGRESS lasts
	// (idempotency.LockTimeout, 30 s): the chaos run and the stack tests, where every
	// order must get its final answer despite injected faults.
	Patient = Rule{Within: 45 * time.Second, Base: 100 * time.Millisecond, Max: 2 * time.Second}
	// Brief gives up after 5 POSTs (under 1.5 s of waits): `orderflow load` and the bench,
	// where a failing stack must show in the report rather than be waited out.
	Brief = Rule{Attempts: 5, Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}
)

// Answer is one HTTP answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Retryable reports whether a POST that got a (or failed with err) must be sent again
// with the same key: the API did not decide the order (transport error, 5xx, 429) or
// another request with the key is still running (409 REQUEST_IN_PROGRESS).
func Retryable(a Answer, err error) bool {
	return err != nil || a.Status >= 500 || a.Status == http.StatusTooManyRequests ||
		(a.Status == http.StatusConflict && bytes.Contains(a.Body, []byte("REQUEST_IN_PROGRESS")))
}

// Result is how one order's POST ended.
type Result struct {
	// Answer is the last answer (zero when Err is set).
	Answer
	// OrderID is the orderId of the answer's JSON body, when it has one.
	OrderID string
	// Retries is how many POSTs were sent after the first.
	Retries int
	// Latency is from the first POST to the last answer.
	Latency time.Duration
	// Err is the last POST's transport error, or ctx's error.
	Err error
}

// Do calls send until its answer is not Retryable or r gives up, waiting
// retry.Backoff between calls; the result is the last call's.
func (r Rule) Do(ctx context.Context, send func(context.Context) (Answer, error)) Result {
	start := time.Now()
	var res Result
	for n := 1; ; n++ {
		res.Answer, res.Err = send(ctx)
		if !Retryable(res.Answer, res.Err) || ctx.Err() != nil ||
			(r.Attempts > 0 && n >= r.Attempts) || (r.Within > 0 && time.Since(start) >= r.Within) {
			break
		}
		if err := retry.Sleep(ctx, retry.Backoff(n, r.Base, r.Max)); err != nil {
			if res.Err == nil && res.Status == 0 {
				res.Err = err
			}
			break
		}
		res.Retries++
	}
	res.Latency = time.Since(start)
	var o struct {
		OrderID string `json:"orderId"`
	}
	if json.Unmarshal(res.Body, &o) == nil {
		res.OrderID = o.OrderID
	}
	return res
}

// Poster posts orders to one API.
type Poster struct {
	// Client sends the requests (nil: a client with a 30 s timeout).
	Client *http.Client
	// API is the API's base URL; orders go to API+"/orders".
	API string
	// Authorization is the Authorization header (empty: none).
	Authorization string
	Rule          Rule
}

// Post sends body to POST /orders with the Idempotency-Key key under p.Rule.
func (p *Poster) Post(ctx context.Context, key string, body []byte) Result {
	c := p.Client
	if c == nil {
		c = defaultClient
	}
	url := strings.TrimRight(p.API, "/") + "/orders"
	return p.Rule.Do(ctx, func(ctx context.Context) (Answer, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return Answer{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Idempotency-Key", key)
		if p.Authorization != "" {
			req.Header.Set("Authorization", p.Authorization)
		}
		resp, err := c.Do(req)
		if err != nil {
			return Answer{}, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return Answer{}, fmt.Errorf("POST /orders: read body: %w", err)
		}
		return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
	})
}

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// Run calls one(i) for every i in [0, n), at most concurrency at once, and returns when
// they have returned. Once ctx ends no further i is started.
func Run(ctx context.Context, n, concurrency int, one func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(concurrency, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				one(i)
			}
		}()
	}
feed:
	for i := range n {
		if ctx.Err() != nil { // select picks at random when both are ready
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}
