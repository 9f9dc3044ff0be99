package users

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"go.uber.org/zap"
)

// heldLogins runs n concurrent Logins, each (name(i), password, ip(i)),
// with every bcrypt comparison held until each of the n has either
// reached a comparison or been refused without one: however the
// goroutines are scheduled, all n are in flight together, as in a burst
// that arrives before the first bcrypt ends. It returns how many
// comparisons ran and each Login's error.
func heldLogins(t *testing.T, c *Credentials, th *Throttle, n int, name, ip func(int) string, password string) (int, []error) {
	t.Helper()
	var compares atomic.Int32
	arrived := make(chan struct{}, n)
	gate := make(chan struct{})
	inner := c.compare
	c.compare = func(s Scheme, hash, pw []byte) (bool, error) {
		compares.Add(1)
		arrived <- struct{}{}
		<-gate
		return inner(s, hash, pw)
	}
	defer func() { c.compare = inner }()

	start := make(chan struct{})
	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			<-start
			_, err := c.Login(th, name(i), password, ip(i))
			results <- result{i, err}
		}(i)
	}
	close(start)
	errs := make([]error, n)
	// a held comparison cannot return, so every result before the gate
	// opens is a refusal without one
	held, done := 0, 0
	for held+done < n {
		select {
		case <-arrived:
			held++
		case r := <-results:
			errs[r.i] = r.err
			done++
		}
	}
	close(gate)
	for ; done < n; done++ {
		r := <-results
		errs[r.i] = r.err
	}
	return int(compares.Load()), errs
}

func raceCredentials(t *testing.T) *Credentials {
	t.Helper()
	var list []User
	for i := 0; i < 3; i++ {
		list = append(list, User{Name: "user" + strconv.Itoa(i), Hash: testkit.BcryptHash(t, "password")})
	}
	list = append(list, User{Name: "alice", Hash: testkit.BcryptHash(t, "password")})
	c, err := Load(Config{Users: list, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countErrs(errs []error) (bad, throttled int) {
	for _, err := range errs {
		var te *ThrottledError
		switch {
		case errors.Is(err, ErrBadCredentials):
			bad++
		case errors.As(err, &te):
			throttled++
		}
	}
	return bad, throttled
}

// TestThrottleConcurrentLoginsPerUser (issue 12, finding 1): 150
// simultaneous wrong logins for one user from one IP run at most
// MaxPerUser (5) bcrypt comparisons; the rest are throttled without one,
// and so is the right password afterwards.
func TestThrottleConcurrentLoginsPerUser(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	c := raceCredentials(t)
	th := NewThrottle(ThrottleLimits{}, clock.Now)
	const n = 150
	compares, errs := heldLogins(t, c, th, n,
		func(int) string { return "alice" }, func(int) string { return "192.0.2.1" }, "wrong")
	bad, throttled := countErrs(errs)
	if compares > DefaultMaxPerUser || bad > DefaultMaxPerUser || bad+throttled != n {
		t.Fatalf("%d concurrent wrong logins for one user: %d bcrypt comparisons, %d bad credentials, %d throttled; want at most %d comparisons",
			n, compares, bad, throttled, DefaultMaxPerUser)
	}
	if _, err := c.Login(th, "alice", "password", "192.0.2.2"); !errors.As(err, new(*ThrottledError)) {
		t.Fatalf("the right password after the burst: %v, want throttled", err)
	}
}

// TestThrottleConcurrentLoginsPerIP: 150 simultaneous wrong logins for
// distinct users from one IP run at most MaxPerIP (20) comparisons.
func TestThrottleConcurrentLoginsPerIP(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	c := raceCredentials(t)
	th := NewThrottle(ThrottleLimits{}, clock.Now)
	const n = 150
	compares, errs := heldLogins(t, c, th, n,
		func(i int) string { return "guess" + strconv.Itoa(i) }, func(int) string { return "192.0.2.1" }, "wrong")
	bad, throttled := countErrs(errs)
	if compares > DefaultMaxPerIP || bad > DefaultMaxPerIP || bad+throttled != n {
		t.Fatalf("%d concurrent wrong logins from one IP: %d bcrypt comparisons, %d bad credentials, %d throttled; want at most %d comparisons",
			n, compares, bad, throttled, DefaultMaxPerIP)
	}
}

// TestThrottleConcurrentSuccessKeepsIPBudget: right passwords in flight
// together reserve attempts, but a success gives its attempt back: a
// shared IP is not blocked by its users' good logins.
func TestThrottleConcurrentSuccessKeepsIPBudget(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	c := raceCredentials(t)
	th := NewThrottle(ThrottleLimits{MaxPerIP: 3, MaxPerUser: 3}, clock.Now)
	for round := 0; round < 5; round++ {
		compares, errs := heldLogins(t, c, th, 3,
			func(i int) string { return "user" + strconv.Itoa(i) }, func(int) string { return "192.0.2.1" }, "password")
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d login %d (%d comparisons): %v", round, i, compares, err)
			}
		}
	}
	if _, blocked := th.Blocked("alice", "192.0.2.1"); blocked {
		t.Error("good logins used up the IP's budget")
	}
}

// TestThrottleReleaseOnce: a success gives back the one attempt it
// reserved, once, and only in the window it was counted in.
func TestThrottleReleaseOnce(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	th := NewThrottle(ThrottleLimits{MaxPerUser: 10, MaxPerIP: 3, Window: time.Minute}, clock.Now)
	release, _, ok := th.Reserve("a", "ip")
	if !ok {
		t.Fatal("first attempt refused")
	}
	th.Failed("b", "ip")
	release(true)
	release(true)
	if got := th.ips.entries["ip"].n; got != 1 {
		t.Fatalf("IP count %d after one failure and one released success, want 1", got)
	}
	// a success reported after its window ended leaves the new window alone
	release, _, _ = th.Reserve("c", "ip")
	clock.Advance(time.Minute)
	th.Failed("d", "ip")
	release(true)
	if got := th.ips.entries["ip"].n; got != 1 {
		t.Fatalf("IP count %d in the new window, want 1", got)
	}
}

// An attempt refunded (a delegated login the app judged neither way) gives
// both budgets their attempt back and clears nothing; left alone, it counts
// as a failure.
func TestThrottleAttemptRefund(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	th := NewThrottle(ThrottleLimits{MaxPerUser: 2, MaxPerIP: 10, Window: time.Minute}, clock.Now)
	for i := 0; i < 5; i++ {
		at, _, ok := th.Attempt("alice", "192.0.2.1")
		if !ok {
			t.Fatalf("attempt %d refused: refunded attempts must not count", i)
		}
		at.Refund()
		at.Succeeded() // a second settlement does nothing
	}
	for i := 0; i < 2; i++ {
		if _, _, ok := th.Attempt("alice", "192.0.2.1"); !ok {
			t.Fatalf("failure %d refused early", i)
		}
	}
	if _, _, ok := th.Attempt("alice", "192.0.2.1"); ok {
		t.Fatal("two failures left alone did not spend the user's budget")
	}
}
