package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base, maxDelay := 50*time.Millisecond, time.Second
	for n, ceil := range map[int]time.Duration{1: 50 * time.Millisecond, 2: 100 * time.Millisecond, 3: 200 * time.Millisecond,
		5: 800 * time.Millisecond, 6: time.Second, 40: time.Second} {
		for range 200 {
			if d := Backoff(n, base, maxDelay); d < ceil/2 || d > ceil {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
	if d := Backoff(3, 0, maxDelay); d != 0 {
		t.Errorf("Backoff with a zero base = %v, want 0", d)
	}
}

func TestDelayDoublesUpToTheCap(t *testing.T) {
	base, maxDelay := 50*time.Millisecond, time.Second
	for n, want := range map[int]time.Duration{1: 50 * time.Millisecond, 2: 100 * time.Millisecond, 5: 800 * time.Millisecond,
		6: time.Second, 64: time.Second} {
		if d := Delay(n, base, maxDelay); d != want {
			t.Errorf("Delay(%d) = %v, want %v", n, d, want)
		}
	}
	if d := Delay(0, base, maxDelay); d != base {
		t.Errorf("Delay(0) = %v, want the base %v", d, base)
	}
}

func TestSleepStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}
