package users

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// Throttling defaults: past 5 failed logins for one username, or 20 from
// one client IP, within 15 minutes, logins are refused until the window
// ends. Each counter table holds at most 10000 entries.
const (
	DefaultMaxPerUser = 5
	DefaultMaxPerIP   = 20
	DefaultWindow     = 15 * time.Minute
	DefaultCapacity   = 10000
)

// ThrottleLimits configures a Throttle; a zero field takes its default.
type ThrottleLimits struct {
	// MaxPerUser is the failed logins allowed per username within the
	// window.
	MaxPerUser int
	// MaxPerIP is the failed logins allowed per client IP within the
	// window.
	MaxPerIP int
	// Window is the time in which failures are counted, from the first.
	Window time.Duration
	// Capacity is how many usernames, and how many client IPs, are
	// tracked at most; when full, expired entries and then the oldest are
	// dropped.
	Capacity int
}

// failureCount is one key's failures in its current window.
type failureCount struct {
	n     int
	start time.Time
}

// failureTable counts failures per key in fixed windows, with bounded
// memory.
type failureTable struct {
	max      int
	capacity int
	entries  map[string]*failureCount
}

// Throttle counts failed logins per username and per client IP.
type Throttle struct {
	mu     sync.Mutex
	window time.Duration
	users  failureTable
	ips    failureTable
	now    func() time.Time
}

// NewThrottle makes a Throttle with the limits l on the clock now (nil:
// time.Now).
func NewThrottle(l ThrottleLimits, now func() time.Time) *Throttle {
	if l.MaxPerUser == 0 {
		l.MaxPerUser = DefaultMaxPerUser
	}
	if l.MaxPerIP == 0 {
		l.MaxPerIP = DefaultMaxPerIP
	}
	if l.Window == 0 {
		l.Window = DefaultWindow
	}
	if l.Capacity == 0 {
		l.Capacity = DefaultCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{
		window: l.Window,
		users:  failureTable{max: l.MaxPerUser, capacity: l.Capacity, entries: map[string]*failureCount{}},
		ips:    failureTable{max: l.MaxPerIP, capacity: l.Capacity, entries: map[string]*failureCount{}},
		now:    now,
	}
}

// userKey hashes a username so that an entry costs 32 bytes however long
// the submitted name is.
func userKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return string(sum[:])
}

// Reserve takes one attempt from the username's and the client IP's
// budgets before the password is checked, atomically with the check that
// budget is left: however many logins arrive at once, at most MaxPerUser
// per username and MaxPerIP per IP are let through to a comparison per
// window. The attempt counts as a failure unless release(true) reports a
// success, which gives the IP its attempt back and resets the username's
// count (one good password must not buy an IP guesses at other accounts;
// it ends the user's own run of failures). release(false) and a second
// release do nothing. When no budget is left, Reserve returns ok false
// and how long until the window ends.
//
// Every check of a secret that the throttle guards goes through Reserve:
// the login and reauth routes (Credentials.Login), and any later way to
// log in.
func (t *Throttle) Reserve(name, ip string) (release func(success bool), wait time.Duration, ok bool) {
	at, wait, ok := t.Attempt(name, ip)
	if !ok {
		return nil, wait, false
	}
	return func(success bool) {
		if success {
			at.Succeeded()
		}
	}, 0, true
}

// Attempt is Reserve for a check whose outcome may be neither success nor
// failure: a delegated login whose app answered neither with an identity
// nor with 401/403 (a 5xx, a redirect) judged no password, and its attempt
// is refunded. An attempt left alone counts as a failure.
func (t *Throttle) Attempt(name, ip string) (at *Attempt, wait time.Duration, ok bool) {
	uk := userKey(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	wait = t.users.blockedFor(uk, now, t.window)
	if w := t.ips.blockedFor(ip, now, t.window); w > wait {
		wait = w
	}
	if wait > 0 {
		return nil, wait, false
	}
	ue := t.users.add(uk, now, t.window)
	ie := t.ips.add(ip, now, t.window)
	return &Attempt{t: t, uk: uk, ip: ip, ue: ue, ie: ie, ustart: ue.start, istart: ie.start}, 0, true
}

// AttemptIP is Attempt for a check whose username is only known once it
// is made (a passkey sign-in names its user inside the assertion): it
// takes one attempt from the client IP's budget alone. Count a failure
// of a user found meanwhile with FailedName. Succeeded gives the IP its
// attempt back.
func (t *Throttle) AttemptIP(ip string) (at *Attempt, wait time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if wait = t.ips.blockedFor(ip, now, t.window); wait > 0 {
		return nil, wait, false
	}
	ie := t.ips.add(ip, now, t.window)
	return &Attempt{t: t, ip: ip, ie: ie, istart: ie.start}, 0, true
}

// FailedName counts a failure against a username alone.
func (t *Throttle) FailedName(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users.add(userKey(name), t.now(), t.window)
}

// Attempt is one reserved login attempt; see Throttle.Attempt.
type Attempt struct {
	t              *Throttle
	uk, ip         string
	ue, ie         *failureCount
	ustart, istart time.Time
	settled        atomic.Bool
}

// Succeeded ends the attempt as a success: the IP gets its attempt back
// and the username's count is reset, in the window the attempt was
// counted in. Only the first settlement of an attempt counts.
func (a *Attempt) Succeeded() { a.settle(true) }

// Refund ends the attempt as judged neither way: both counts get it back.
func (a *Attempt) Refund() { a.settle(false) }

func (a *Attempt) settle(success bool) {
	if a == nil || a.settled.Swap(true) {
		return
	}
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.users.entries[a.uk]; a.ue != nil && e == a.ue && e.start.Equal(a.ustart) {
		if success {
			delete(t.users.entries, a.uk)
		} else if e.n > 0 {
			e.n--
		}
	}
	if e := t.ips.entries[a.ip]; e == a.ie && e.start.Equal(a.istart) && e.n > 0 {
		e.n--
	}
}

// Blocked reports whether a login for this username from this IP would be
// refused now, and for how long. It only looks: a login must Reserve.
func (t *Throttle) Blocked(name, ip string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	wait := t.users.blockedFor(userKey(name), now, t.window)
	if w := t.ips.blockedFor(ip, now, t.window); w > wait {
		wait = w
	}
	return wait, wait > 0
}

// Failed counts a failure that was not reserved (logins Reserve instead).
func (t *Throttle) Failed(name, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.users.add(userKey(name), now, t.window)
	t.ips.add(ip, now, t.window)
}

func (f *failureTable) blockedFor(key string, now time.Time, window time.Duration) time.Duration {
	e, ok := f.entries[key]
	if !ok {
		return 0
	}
	end := e.start.Add(window)
	if !now.Before(end) {
		delete(f.entries, key)
		return 0
	}
	if e.n < f.max {
		return 0
	}
	return end.Sub(now)
}

// add counts one attempt for key and returns its entry.
func (f *failureTable) add(key string, now time.Time, window time.Duration) *failureCount {
	if e, ok := f.entries[key]; ok {
		if now.Before(e.start.Add(window)) {
			e.n++
			return e
		}
		e.n, e.start = 1, now
		return e
	}
	if len(f.entries) >= f.capacity {
		f.evict(now, window)
	}
	e := &failureCount{n: 1, start: now}
	f.entries[key] = e
	return e
}

// evict drops expired entries, and if none expired, the oldest one. It
// runs only when the table is full, on a reserved attempt that goes on to
// a bcrypt comparison, so a linear scan costs nothing that matters.
func (f *failureTable) evict(now time.Time, window time.Duration) {
	var oldestKey string
	var oldest time.Time
	for k, e := range f.entries {
		if !now.Before(e.start.Add(window)) {
			delete(f.entries, k)
			continue
		}
		if oldestKey == "" || e.start.Before(oldest) {
			oldestKey, oldest = k, e.start
		}
	}
	if len(f.entries) >= f.capacity && oldestKey != "" {
		delete(f.entries, oldestKey)
	}
}
