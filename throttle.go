package jwtextended

import (
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
)

// ThrottleConfig limits failed logins (login and reauth routes). Every
// number and the window may be a placeholder such as {env.MAX_PER_IP}.
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

	// The numbers and window that hold placeholders, as text, until the
	// handler's Provision resolves them (see settings.go).
	placeholders placeholderSettings
}

// newThrottle makes the login throttle of cfg (not Disabled); zero
// values take the defaults of internal/users.
func newThrottle(cfg ThrottleConfig, now func() time.Time) *users.Throttle {
	return users.NewThrottle(users.ThrottleLimits{
		MaxPerUser: cfg.MaxPerUser,
		MaxPerIP:   cfg.MaxPerIP,
		Window:     time.Duration(cfg.Window),
		Capacity:   cfg.Capacity,
	}, now)
}
