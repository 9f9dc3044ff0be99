package jwtextended

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Throttling defaults: past 5 failed logins for one username, or 20 from
// one client IP, within 15 minutes, logins answer 429 until the window
// ends. Each counter table holds at most 10000 entries.
const (
	defaultMaxFailuresPerUser = 5
	defaultMaxFailuresPerIP   = 20
	defaultThrottleWindow     = 15 * time.Minute
	defaultThrottleCapacity   = 10000
)

// ThrottleConfig limits failed logins (login and reauth routes).
type ThrottleConfig struct {
	// Failed logins allowed per username within the window. Default: 5.
	MaxPerUser int `json:"max_per_user,omitempty"`
	// Failed logins allowed per client IP within the window. Default: 20.
	MaxPerIP int `json:"max_per_ip,omitempty"`
	// The window in which failures are counted, from the first failure.
	// Default: 15m.
	Window caddy.Duration `json:"window,omitempty"`
	// How many usernames, and how many client IPs, are tracked at most;
	// when full, expired entries and then the oldest are dropped.
	// Default: 10000 each.
	Capacity int `json:"capacity,omitempty"`
	// Turn throttling off.
	Disabled bool `json:"disabled,omitempty"`
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

// throttle counts failed logins per username and per client IP.
type throttle struct {
	mu     sync.Mutex
	window time.Duration
	users  failureTable
	ips    failureTable
	now    func() time.Time
}

func newThrottle(cfg ThrottleConfig, now func() time.Time) *throttle {
	if cfg.MaxPerUser == 0 {
		cfg.MaxPerUser = defaultMaxFailuresPerUser
	}
	if cfg.MaxPerIP == 0 {
		cfg.MaxPerIP = defaultMaxFailuresPerIP
	}
	if cfg.Window == 0 {
		cfg.Window = caddy.Duration(defaultThrottleWindow)
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = defaultThrottleCapacity
	}
	return &throttle{
		window: time.Duration(cfg.Window),
		users:  failureTable{max: cfg.MaxPerUser, capacity: cfg.Capacity, entries: map[string]*failureCount{}},
		ips:    failureTable{max: cfg.MaxPerIP, capacity: cfg.Capacity, entries: map[string]*failureCount{}},
		now:    now,
	}
}

// userKey hashes a username so that an entry costs 32 bytes however long
// the submitted name is.
func userKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return string(sum[:])
}

// blocked reports whether a login for this username from this IP must be
// refused now, and for how long.
func (t *throttle) blocked(name, ip string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	wait := t.users.blockedFor(userKey(name), now, t.window)
	if w := t.ips.blockedFor(ip, now, t.window); w > wait {
		wait = w
	}
	return wait, wait > 0
}

// failed counts a failed login.
func (t *throttle) failed(name, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.users.add(userKey(name), now, t.window)
	t.ips.add(ip, now, t.window)
}

// succeeded resets the username's count (not the IP's: one good password
// must not buy an IP new guesses at other accounts).
func (t *throttle) succeeded(name string) {
	t.mu.Lock()
	delete(t.users.entries, userKey(name))
	t.mu.Unlock()
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

func (f *failureTable) add(key string, now time.Time, window time.Duration) {
	if e, ok := f.entries[key]; ok {
		if now.Before(e.start.Add(window)) {
			e.n++
			return
		}
		e.n, e.start = 1, now
		return
	}
	if len(f.entries) >= f.capacity {
		f.evict(now, window)
	}
	f.entries[key] = &failureCount{n: 1, start: now}
}

// evict drops expired entries, and if none expired, the oldest one. It
// runs only when the table is full, on a failed login that already spent
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
