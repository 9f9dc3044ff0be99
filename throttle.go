package jwtextended

import (
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
)

// ThrottleConfig limits failed logins (login and reauth routes). Every
// number and the window may be a placeholder such as {env.MAX_PER_IP}.
type ThrottleConfig struct {
	// Failed logins allowed per username within the window. Default: 5.
	MaxPerUser WeakInt `json:"max_per_user,omitempty"`
	// Failed logins allowed per client IP within the window. Default: 20.
	MaxPerIP WeakInt `json:"max_per_ip,omitempty"`
	// The window in which failures are counted, from the first failure.
	// Default: 15m.
	Window WeakDuration `json:"window,omitempty"`
	// How many usernames, and how many client IPs, are tracked at most;
	// when full, expired entries and then the oldest are dropped.
	// Default: 10000 each.
	Capacity WeakInt `json:"capacity,omitempty"`
	// Turn throttling off.
	Disabled bool `json:"disabled,omitempty"`
}

// resolve returns the throttle's limits, placeholders resolved; zero
// values take the defaults of internal/users. A nil block is all defaults.
func (c *ThrottleConfig) resolve() (users.ThrottleLimits, error) {
	var l users.ThrottleLimits
	if c == nil {
		return l, nil
	}
	const module = "jwt_issue: throttle"
	var err error
	for _, n := range []struct {
		key string
		w   WeakInt
		dst *int
	}{{"capacity", c.Capacity, &l.Capacity}, {"max_per_ip", c.MaxPerIP, &l.MaxPerIP}, {"max_per_user", c.MaxPerUser, &l.MaxPerUser}} {
		if *n.dst, _, err = n.w.resolve(module, n.key); err != nil {
			return l, err
		}
	}
	l.Window, err = c.Window.resolve(module, "window")
	return l, err
}
