package jwtextended

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	_ "github.com/caddyserver/caddy/v2/modules/caddyevents/eventsconfig" // the events global option
)

// Tests of the app's Caddy events (events.go): an `events` handler in a
// real Caddy config receives them, with identity, jti and client IP and
// never a token; without subscribers, emitting allocates nothing.

func init() { caddy.RegisterModule(eventsTestRecorder{}) }

// eventsTestRecorder is an events handler for these tests
// (events.handlers.jwt_test_recorder): it records every event it gets.
type eventsTestRecorder struct{}

var eventsTestRecorded struct {
	sync.Mutex
	events []caddy.Event
}

func (eventsTestRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.jwt_test_recorder", New: func() caddy.Module { return new(eventsTestRecorder) }}
}

func (*eventsTestRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func (eventsTestRecorder) Handle(_ context.Context, e caddy.Event) error {
	eventsTestRecorded.Lock()
	defer eventsTestRecorded.Unlock()
	eventsTestRecorded.events = append(eventsTestRecorded.events, e)
	return nil
}

// eventsTestTake returns the events recorded so far and forgets them.
func eventsTestTake() []caddy.Event {
	eventsTestRecorded.Lock()
	defer eventsTestRecorded.Unlock()
	out := eventsTestRecorded.events
	eventsTestRecorded.events = nil
	return out
}

func TestEventsReachAnEventsHandler(t *testing.T) {
	ports := testkit.SharedPorts(t)
	hash := testkit.BcryptHash(t, "pw")
	cfg := ports.IsolatedGlobals(t, fmt.Sprintf(`	auto_https off
	jwt {
		secret "%s"
	}
	events {
		on jwt_login jwt_test_recorder
		on jwt_login_failed jwt_test_recorder
		on jwt_refresh jwt_test_recorder
		on jwt_logout jwt_test_recorder
		on jwt_revoked jwt_test_recorder
	}
`, adminTestSecret)) + fmt.Sprintf(`
%s {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		logout  /auth/logout
		user alice %s
	}
}
`, ports.HTTPBase(), hash)
	c := startCaddy(t, cfg).Client
	eventsTestTake()
	json := map[string]string{"Content-Type": "application/json"}

	issuerITDo(t, c, "POST", "/auth/login", json, `{"username": "alice", "password": "nope"}`)
	access, refresh := adminTestLogin(t, c, "alice")
	st, _, body := issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Authorization": "Bearer " + refresh}, "")
	issuerITWant(t, "refresh", st, body, 200, "")
	st, _, body = issuerITDo(t, c, "POST", "/auth/logout", map[string]string{"Authorization": "Bearer " + access}, "")
	issuerITWant(t, "logout", st, body, 200, "")
	if st, body := adminTestDo(t, "POST", "/jwt/revoke", `{"identity": "alice"}`); st != 200 {
		t.Fatalf("admin revoke: %d %s", st, body)
	}

	got := eventsTestTake()
	want := []struct{ name, identity, reason string }{
		{eventLoginFailed, "alice", "bad_credentials"},
		{eventLogin, "alice", ""},
		{eventRefresh, "alice", ""},
		{eventLogout, "alice", ""},
		{eventRevoked, "alice", "admin_api"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Name() != w.name || e.Data["identity"] != w.identity || (w.reason != "" && e.Data["reason"] != w.reason) {
			t.Errorf("event %d: %s %v, want %s of %s", i, e.Name(), e.Data, w.name, w.identity)
		}
		if w.name != eventRevoked && e.Data["remote_ip"] != "127.0.0.1" {
			t.Errorf("event %s: remote_ip %v, want 127.0.0.1", e.Name(), e.Data["remote_ip"])
		}
		if jti, _ := e.Data["jti"].(string); (w.name == eventLogin || w.name == eventRefresh || w.name == eventLogout) && jti == "" {
			t.Errorf("event %s has no jti: %v", e.Name(), e.Data)
		}
		for k, v := range e.Data {
			s := fmt.Sprint(v)
			if strings.Contains(s, "pw") && k != "route" || strings.Contains(s, access) || strings.Contains(s, refresh) || strings.Count(s, ".") == 2 && len(s) > 40 {
				t.Errorf("event %s: %s = %q looks like a password or token", e.Name(), k, s)
			}
		}
	}
}

// TestEventsRefreshReuse: presenting a rotated refresh token again emits
// jwt_refresh_reuse with the family.
func TestEventsRefreshReuse(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	sub := eventsTestSubscribe(t, e.app, eventRefreshReuse)
	login := bodyJSON(t, e.do(jsonPost("/login", creds("alice", fixturePassword))))
	old := login["refresh_token"].(string)
	e.clock.Advance(defaultRotateGrace + 1e9)
	if w := e.do(withBearer(jsonPost("/refresh", "{}"), old)); w.Code != 200 {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	e.clock.Advance(defaultRotateGrace + 1e9)
	e.do(withBearer(jsonPost("/refresh", "{}"), old))
	got := sub()
	if len(got) != 1 || got[0].Data["identity"] != "alice" || got[0].Data["family"] == nil || got[0].Data["remote_ip"] != fixtureIP {
		t.Fatalf("events %v, want one jwt_refresh_reuse of alice with its family", got)
	}
}

// eventsTestSubscribe binds a recorder to name on the app's events app;
// the returned function takes what it recorded.
func eventsTestSubscribe(t *testing.T, app *App, name string) func() []caddy.Event {
	t.Helper()
	if err := app.events.app.On(name, eventsTestRecorder{}); err != nil {
		t.Fatal(err)
	}
	eventsTestTake()
	return eventsTestTake
}

// TestEventsCostNothingUnsubscribed: with no subscriber, an emit builds
// no event and allocates nothing on the request path.
func TestEventsCostNothingUnsubscribed(t *testing.T) {
	e := newFixture(t, withIssuer())
	var _ *caddyevents.App = e.app.events.app
	d := eventData{Identity: "alice", JTI: "j", RemoteIP: fixtureIP}
	if n := testing.AllocsPerRun(100, func() { e.app.events.emit(eventLogin, d) }); n != 0 {
		t.Errorf("an unsubscribed emit allocates %v times", n)
	}
}
