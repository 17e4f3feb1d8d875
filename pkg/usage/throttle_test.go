package usage

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestThrottle(t *testing.T) {
	type step struct {
		at        time.Duration // since the start
		key       string
		changed   bool
		wantWrite bool
		wantAfter time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"unchanged figures are never written", []step{
			{0, "net/blue", false, false, 0},
			{time.Hour, "net/blue", false, false, 0},
		}},
		{"a first change is written at once", []step{
			{0, "net/blue", true, true, 0},
		}},
		{"a change inside the window waits for its end", []step{
			{0, "net/blue", true, true, 0},
			{2 * time.Second, "net/blue", true, false, 3 * time.Second},
			{4 * time.Second, "net/blue", true, false, time.Second},
			{5 * time.Second, "net/blue", true, true, 0},
		}},
		{"unchanged figures inside the window do not wait", []step{
			{0, "net/blue", true, true, 0},
			{time.Second, "net/blue", false, false, 0},
		}},
		{"the next window starts at the write it allows", []step{
			{0, "net/blue", true, true, 0},
			{7 * time.Second, "net/blue", true, true, 0},
			{11 * time.Second, "net/blue", true, false, time.Second},
			{12 * time.Second, "net/blue", true, true, 0},
		}},
		{"each Network has its own window", []step{
			{0, "net/blue", true, true, 0},
			{time.Second, "net/red", true, true, 0},
			{2 * time.Second, "other/blue", true, true, 0},
			{3 * time.Second, "net/blue", true, false, 2 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := clocktesting.NewFakePassiveClock(start)
			th := NewThrottle(5*time.Second, clock)
			for i, s := range tt.steps {
				clock.SetTime(start.Add(s.at))
				write, after := th.Decide(s.key, s.changed)
				if write != s.wantWrite || after != s.wantAfter {
					t.Fatalf("step %d (%v, %s, changed %v): Decide = %v, %v; want %v, %v", i, s.at, s.key, s.changed, write, after, s.wantWrite, s.wantAfter)
				}
			}
		})
	}
}

// 10,000 pod starts in a minute, one sync each, make 12 writes with a
// 5-second window, and the last figures are written when the burst ends.
func TestThrottleBurst(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(start)
	th := NewThrottle(5*time.Second, clock)
	writes := 0
	var retryAt time.Time
	for i := range 10000 {
		clock.SetTime(start.Add(time.Duration(i) * 6 * time.Millisecond))
		if write, after := th.Decide("net/blue", true); write {
			writes++
		} else {
			retryAt = clock.Now().Add(after)
		}
	}
	if writes != 12 {
		t.Fatalf("a 60-second burst made %d writes, want 12", writes)
	}
	clock.SetTime(retryAt)
	if write, _ := th.Decide("net/blue", true); !write {
		t.Fatalf("the retry at the window's end did not write the last figures")
	}
}

func TestThrottleForgetsNetworks(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(start)
	th := NewThrottle(5*time.Second, clock)
	th.Decide("net/blue", true)
	th.Forget("net/blue")
	if write, _ := th.Decide("net/blue", true); !write {
		t.Fatalf("a Network recreated after Forget waits for its predecessor's window")
	}
	// Networks whose window closed are dropped as others are written.
	for i := range 1000 {
		clock.SetTime(start.Add(time.Duration(i) * time.Second))
		th.Decide("net/n"+time.Duration(i).String(), true)
	}
	if n := len(th.last); n > 200 {
		t.Fatalf("the throttle remembers %d Networks after 1000 written one a second with a 5-second window", n)
	}
}
