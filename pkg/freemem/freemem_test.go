package freemem

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// runFor runs a Tracker that counts its returns for a while and reports how
// many there were.
func runFor(t *testing.T, syncs int, idle bool) int64 {
	t.Helper()
	var returns atomic.Int64
	tr := &Tracker{Burst: 3, Check: time.Millisecond, free: func() { returns.Add(1) }}
	for range syncs {
		tr.Synced()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tr.Run(ctx, func() bool { return idle })
	return returns.Load()
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name  string
		syncs int
		idle  bool
		want  int64
	}{
		{"a burst that is over returns memory once", 3, true, 1},
		{"a larger burst still returns it once", 50, true, 1},
		{"fewer syncs than a burst return nothing", 2, true, 0},
		{"a burst still going on returns nothing", 50, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFor(t, tc.syncs, tc.idle); got != tc.want {
				t.Errorf("memory returned %d times, want %d", got, tc.want)
			}
		})
	}
}
