package users

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestThrottleBoundedMemory(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(ThrottleLimits{MaxPerUser: 2, MaxPerIP: 1000, Capacity: 3, Window: time.Minute}, func() time.Time { return now })
	for i := 0; i < 10; i++ {
		th.Failed("u"+strconv.Itoa(i), "ip")
		now = now.Add(time.Second)
		if len(th.users.entries) > 3 || len(th.ips.entries) > 3 {
			t.Fatalf("table grew past its capacity: %d users %d ips", len(th.users.entries), len(th.ips.entries))
		}
	}
	// the newest entries are kept, the oldest evicted
	if _, ok := th.users.entries[userKey("u9")]; !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := th.users.entries[userKey("u0")]; ok {
		t.Error("the oldest entry was kept")
	}
	// a key of any length costs one hash
	th.Failed(string(make([]byte, 64<<10)), "ip")
	for k := range th.users.entries {
		if len(k) != 32 {
			t.Errorf("user key of %d bytes", len(k))
		}
	}
	// expired entries go first
	now = now.Add(2 * time.Minute)
	th.Failed("late", "ip")
	if len(th.users.entries) != 1 {
		t.Errorf("expired entries not swept: %d left", len(th.users.entries))
	}
}

// TestThrottleCountersBounded (from the root's
// TestSecurityLoginThrottle/counters_bounded): a flood of failures with
// long, distinct usernames from distinct IPs keeps both tables within
// their capacity, and a username entry costs 32 bytes of key.
func TestThrottleCountersBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := NewThrottle(ThrottleLimits{MaxPerUser: 3, MaxPerIP: 3, Window: time.Hour, Capacity: 100}, func() time.Time { return now })
	for i := 0; i < 5000; i++ {
		th.Failed("user"+strconv.Itoa(i)+strings.Repeat("x", 1000), "203.0.113."+strconv.Itoa(i))
	}
	if len(th.users.entries) > 100 || len(th.ips.entries) > 100 {
		t.Fatalf("throttle tables hold %d users and %d IPs, capacity 100", len(th.users.entries), len(th.ips.entries))
	}
	for k := range th.users.entries {
		if len(k) != sha256.Size {
			t.Fatalf("a username entry keeps %d bytes of key", len(k))
		}
	}
}

// TestThrottleAttemptIP: a passkey sign-in takes from the IP's budget
// alone; its success refunds the IP, and a failure of a user it found is
// counted against that user with FailedName.
func TestThrottleAttemptIP(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := NewThrottle(ThrottleLimits{MaxPerUser: 2, MaxPerIP: 3, Window: time.Hour}, func() time.Time { return now })
	at, _, ok := th.AttemptIP("ip")
	if !ok || len(th.users.entries) != 0 {
		t.Fatalf("AttemptIP: ok %v, %d user entries", ok, len(th.users.entries))
	}
	at.Succeeded()
	if e := th.ips.entries["ip"]; e == nil || e.n != 0 {
		t.Fatalf("a success did not refund the IP: %+v", e)
	}
	for i := 0; i < 3; i++ {
		if _, _, ok := th.AttemptIP("ip"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if wait, ok := th.Blocked("anyone", "ip"); !ok || wait != time.Hour {
		t.Fatalf("three failures from the IP: blocked %v for %v", ok, wait)
	}
	if _, _, ok := th.AttemptIP("ip"); ok {
		t.Fatal("a fourth attempt from a blocked IP was let through")
	}
	th.FailedName("alice")
	th.FailedName("alice")
	if _, ok := th.Blocked("alice", "other-ip"); !ok {
		t.Fatal("two failures named alice did not block alice")
	}
}
