package inventory

import (
	"context"
	"sync"

	stock "github.com/orderflow/orderflow/pkg/inventory"
)

// fakeStore is a Store whose behaviour each test sets through function fields.
// Handle processes messages concurrently, so the fields must be safe for concurrent use.
type fakeStore struct {
	reserve func(ctx context.Context, orderID string, lines []stock.Line) error
	release func(ctx context.Context, orderID string) error
}

func (f *fakeStore) Reserve(ctx context.Context, orderID string, lines []stock.Line) error {
	if f.reserve == nil {
		return nil
	}
	return f.reserve(ctx, orderID, lines)
}

func (f *fakeStore) Release(ctx context.Context, orderID string) error {
	if f.release == nil {
		return nil
	}
	return f.release(ctx, orderID)
}

// call is one recorded task-token answer.
type call struct {
	Kind   string // "succeed" or "fail"
	Token  string
	Output any
	Name   string
	Cause  string
}

// fakeTokens records every answer and returns what err says for it.
type fakeTokens struct {
	err func(c call) error

	mu    sync.Mutex
	calls []call
}

func (f *fakeTokens) record(c call) error {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	return f.err(c)
}

func (f *fakeTokens) Succeed(_ context.Context, token string, output any) error {
	return f.record(call{Kind: "succeed", Token: token, Output: output})
}

func (f *fakeTokens) Fail(_ context.Context, token, errName, cause string) error {
	return f.record(call{Kind: "fail", Token: token, Name: errName, Cause: cause})
}

func (f *fakeTokens) byToken() map[string]call {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]call, len(f.calls))
	for _, c := range f.calls {
		m[c.Token] = c
	}
	return m
}
