package stack

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// counts is a running-executions count that answers from a script, the last answer
// for ever.
type counts struct {
	mu      sync.Mutex
	answers []int
	looks   int
	err     error
}

func (c *counts) running(context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.answers[min(c.looks, len(c.answers)-1)]
	c.looks++
	return n, c.err
}

// Sending pauses while more executions than InFlight run, looks again every
// roomCheckEvery, counts the pause, and never pauses when there is room, pacing is off
// or the count cannot be read.
func TestRoomPacesSending(t *testing.T) {
	newRun := func(inFlight int, c *counts) *chaosRun {
		return &chaosRun{o: ChaosOptions{InFlight: inFlight}, res: &ChaosResult{}, running: c.running}
	}
	ctx := context.Background()

	t.Run("waits for the running executions to fall to InFlight", func(t *testing.T) {
		c := &counts{answers: []int{11, 11, 10}}
		r := newRun(10, c)
		r.room(ctx)
		if c.looks != 3 {
			t.Errorf("looks = %d, want 3 (until the count fell to 10)", c.looks)
		}
		if least := 2 * roomCheckEvery; r.res.Paused < least {
			t.Errorf("paused %s, want at least %s (two looks apart)", r.res.Paused, least)
		}
	})
	for _, tc := range []struct {
		name     string
		inFlight int
		c        *counts
		looks    int
	}{
		{"room at once", 10, &counts{answers: []int{10}}, 1},
		{"pacing off", -1, &counts{answers: []int{1000}}, 0},
		{"count unreadable", 10, &counts{answers: []int{1000}, err: errors.New("emulator down")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(tc.inFlight, tc.c)
			r.room(ctx)
			if tc.c.looks != tc.looks || r.res.Paused != 0 {
				t.Errorf("looks = %d, paused %s; want %d looks and no pause", tc.c.looks, r.res.Paused, tc.looks)
			}
		})
	}
	t.Run("a cancelled run stops waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		r := newRun(10, &counts{answers: []int{1000}})
		time.AfterFunc(roomCheckEvery/2, cancel)
		done := make(chan struct{})
		go func() { r.room(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(maxPause / 2):
			t.Fatal("room kept waiting after the run was cancelled")
		}
	})
}
