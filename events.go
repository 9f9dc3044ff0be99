package jwtextended

// Caddy events (caddyevents) of the jwt app: an `events` handler can act
// on logins, failed logins, refreshes, logouts, revocations and refresh
// token reuse. Emitting costs one map lookup when nothing subscribes.

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
)

// The events the app emits.
const (
	eventLogin        = "jwt_login"
	eventLoginFailed  = "jwt_login_failed"
	eventRefresh      = "jwt_refresh"
	eventLogout       = "jwt_logout"
	eventRevoked      = "jwt_revoked"
	eventRefreshReuse = "jwt_refresh_reuse"
	// eventPasskeySignCount: a passkey assertion was refused because its
	// signature counter did not go up (a cloned authenticator?).
	eventPasskeySignCount = "jwt_passkey_sign_count"
)

// eventData is what an event carries; empty fields are left out. Never
// a token or a password.
type eventData struct {
	// Identity is the user's identity (for jwt_login_failed, the
	// username the client sent).
	Identity string
	// JTI is the token id concerned: the access token minted (login,
	// refresh), the token revoked (logout, admin API).
	JTI string
	// RemoteIP is Caddy's client IP; empty for the admin API.
	RemoteIP string
	// Route is login or reauth (jwt_login, jwt_login_failed).
	Route string
	// Reason says why a login failed, or how a revocation was made.
	Reason string
	// Family is the refresh token family (jwt_refresh_reuse).
	Family string
}

func (d eventData) fields() map[string]any {
	m := make(map[string]any, 6)
	for _, f := range []struct{ name, v string }{
		{"identity", d.Identity}, {"jti", d.JTI}, {"remote_ip", d.RemoteIP},
		{"route", d.Route}, {"reason", d.Reason}, {"family", d.Family},
	} {
		if f.v != "" {
			m[f.name] = f.v
		}
	}
	return m
}

// appEvents emits the app's events through Caddy's events app.
type appEvents struct {
	ctx caddy.Context
	app *caddyevents.App
}

// newAppEvents binds to the config's events app (as reverse_proxy and tls
// do: one is made when the config has none, with no subscriptions).
func newAppEvents(ctx caddy.Context) (*appEvents, error) {
	v, err := ctx.App("events")
	if err != nil {
		return nil, err
	}
	return &appEvents{ctx: ctx, app: v.(*caddyevents.App)}, nil
}

// emit sends an event to its subscribers, synchronously as Caddy's own
// events are; when nothing subscribes (and the events log is not at
// debug), it returns at once without building the event. A handler's
// error or abort never changes the request's answer.
func (e *appEvents) emit(name string, d eventData) {
	if e == nil || !e.app.ShouldEmit(name) {
		return
	}
	e.app.Emit(e.ctx, name, d.fields())
}
