package jwtextended

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestPlaceholderSettingsResolvedAtProvision: a number or duration setting
// that holds a placeholder adapts to its text and takes the resolved value
// at Provision.
func TestPlaceholderSettingsResolvedAtProvision(t *testing.T) {
	t.Setenv("JWTT_SECRET", strings.Repeat("k", 32))
	t.Setenv("JWTT_LEEWAY", "30s")
	t.Setenv("JWTT_ACCESS", "10m")
	t.Setenv("JWTT_MINUTES", "90")
	t.Setenv("JWTT_CACHE", "123")
	t.Setenv("JWTT_SYNC", "2s")
	t.Setenv("JWTT_PER_USER", "2")
	t.Setenv("JWTT_PER_IP", "50")
	t.Setenv("JWTT_WINDOW", "1h")
	t.Setenv("JWTT_CAPACITY", "77")

	raw := caddyfileApp(t, `jwt {
		secret {env.JWTT_SECRET}
		leeway {env.JWTT_LEEWAY}
		access_ttl {env.JWTT_ACCESS}
		refresh_ttl {env.JWTT_MINUTES}m
		fresh_for 5m
		jwks_refresh {env.JWTT_ACCESS}
		revocation_sync {env.JWTT_SYNC}
		cache_size {env.JWTT_CACHE}
	}`)
	const wantJSON = `{"secret":"{env.JWTT_SECRET}","jwks_refresh":"{env.JWTT_ACCESS}","leeway":"{env.JWTT_LEEWAY}",` +
		`"access_ttl":"{env.JWTT_ACCESS}","refresh_ttl":"{env.JWTT_MINUTES}m","fresh_for":300000000000,` +
		`"revocation_sync":"{env.JWTT_SYNC}","cache_size":"{env.JWTT_CACHE}"}`
	if string(raw) != wantJSON {
		t.Errorf("adapted to\n%s\nwant\n%s", raw, wantJSON)
	}

	f := newFixture(t, appConfig(raw))
	app := f.app
	r := app.resolved
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"leeway", r.leeway, 30 * time.Second},
		{"access_ttl", r.accessTTL, 10 * time.Minute},
		{"refresh_ttl", r.refreshTTL, 90 * time.Minute},
		{"fresh_for", r.freshFor, 5 * time.Minute},
		{"jwks_refresh", r.jwksRefresh, 10 * time.Minute},
		{"revocation_sync", r.revocationSync, 2 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.cacheSize != 123 {
		t.Errorf("cache_size = %v, want 123", r.cacheSize)
	}
	if app.verifier.Leeway != 30*time.Second || app.minter.AccessTTL != 10*time.Minute {
		t.Errorf("verifier leeway %v, minter access ttl %v: the resolved values did not reach the core", app.verifier.Leeway, app.minter.AccessTTL)
	}

	for _, text := range []string{
		"jwt_issue {\n\tlogout /logout\n\tthrottle {env.JWTT_PER_USER} {env.JWTT_PER_IP} {env.JWTT_WINDOW} {\n\t\tcapacity {env.JWTT_CAPACITY}\n\t}\n}",
		"jwt_issue {\n\tlogout /logout\n\tthrottle {\n\t\tmax_per_user {env.JWTT_PER_USER}\n\t\tmax_per_ip {env.JWTT_PER_IP}\n\t\twindow {env.JWTT_WINDOW}\n\t\tcapacity {env.JWTT_CAPACITY}\n\t}\n}",
	} {
		h, err := f.provisionIssue(caddyfileIssue(t, text))
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Throttle.resolve()
		want := users.ThrottleLimits{MaxPerUser: 2, MaxPerIP: 50, Window: time.Hour, Capacity: 77}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: throttle resolved to %+v, %v; want %+v", text, got, err, want)
		}
		// the provisioned throttle took max_per_user 2 from the environment
		h.throttle.Failed("alice", "192.0.2.1")
		if _, blocked := h.throttle.Blocked("alice", "192.0.2.1"); blocked {
			t.Errorf("%q: blocked after one failure; max_per_user is 2", text)
		}
		h.throttle.Failed("alice", "192.0.2.1")
		if _, blocked := h.throttle.Blocked("alice", "192.0.2.1"); !blocked {
			t.Errorf("%q: not blocked after two failures; max_per_user is 2", text)
		}
	}
}

// TestPlaceholderSettingsRefused: a placeholder that resolves to a value
// the setting cannot take is refused at Provision, naming the setting.
func TestPlaceholderSettingsRefused(t *testing.T) {
	t.Setenv("JWTT_SECRET", strings.Repeat("k", 32))
	for _, c := range []struct{ setting, value, want string }{
		{"leeway", "soon", `jwt: leeway: {env.JWTT_BAD} resolved to "soon", which is not a duration`},
		{"leeway", "-5s", `jwt: leeway: {env.JWTT_BAD} resolved to "-5s", which is not a duration`},
		{"access_ttl", "", `jwt: resolving placeholders in access_ttl: evaluated placeholder {env.JWTT_BAD} is empty`},
		{"refresh_ttl", "12", `jwt: refresh_ttl: {env.JWTT_BAD} resolved to "12"`},
		{"fresh_for", "5 minutes", `jwt: fresh_for: {env.JWTT_BAD} resolved to "5 minutes"`},
		{"jwks_refresh", "x", `jwt: jwks_refresh: {env.JWTT_BAD} resolved to "x"`},
		{"revocation_sync", "fast", `jwt: revocation_sync: {env.JWTT_BAD} resolved to "fast"`},
		{"cache_size", "lots", `jwt: cache_size: {env.JWTT_BAD} resolved to "lots", which is not a whole number`},
		{"cache_size", "-1", `jwt: cache_size: {env.JWTT_BAD} resolved to "-1", which is not a whole number`},
	} {
		t.Run(c.setting+"="+c.value, func(t *testing.T) {
			t.Setenv("JWTT_BAD", c.value)
			raw := caddyfileApp(t, "jwt {\n\tsecret {env.JWTT_SECRET}\n\t"+c.setting+" {env.JWTT_BAD}\n}")
			_, err := tryFixture(t, appConfig(raw))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}

	t.Setenv("JWTT_BAD", "many")
	f := newFixture(t, appConfig(caddyfileApp(t, "jwt {\n\tsecret {env.JWTT_SECRET}\n}")))
	for _, c := range []struct{ block, want string }{
		{"max_per_user {env.JWTT_BAD}", `jwt_issue: throttle: max_per_user: {env.JWTT_BAD} resolved to "many", which is not a whole number`},
		{"max_per_ip {env.JWTT_BAD}", `jwt_issue: throttle: max_per_ip: {env.JWTT_BAD} resolved to "many"`},
		{"window {env.JWTT_BAD}", `jwt_issue: throttle: window: {env.JWTT_BAD} resolved to "many", which is not a duration`},
		{"capacity {env.JWTT_BAD}", `jwt_issue: throttle: capacity: {env.JWTT_BAD} resolved to "many"`},
	} {
		_, err := f.provisionIssue(caddyfileIssue(t, "jwt_issue {\n\tthrottle {\n\t\t"+c.block+"\n\t}\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.block, err, c.want)
		}
	}
}

// TestSettingsJSON: the JSON of the app and the throttle. Plain values
// encode as before, in field order; a placeholder is a string in the place
// of its setting; unknown keys are refused as Caddy refuses them, and the
// old revocation.sync_interval is refused with its new name.
func TestSettingsJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, in, out string }{
		{"plain", `{"secret":"s","leeway":30000000000,"cache_size":0}`, `{"secret":"s","leeway":30000000000,"cache_size":0}`},
		{"duration string", `{"access_ttl":"15m"}`, `{"access_ttl":900000000000}`},
		{"placeholders in field order", `{"cache_size":"{env.C}","secret":"s","leeway":"{env.L}s"}`, `{"secret":"s","leeway":"{env.L}s","cache_size":"{env.C}"}`},
		{"text settings keep placeholders as they are", `{"issuer":"{env.I}"}`, `{"issuer":"{env.I}"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a App
			if err := json.Unmarshal([]byte(c.in), &a); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(a) // a value: MarshalJSON must not need a pointer
			if err != nil || string(out) != c.out {
				t.Errorf("round trip = %s, %v; want %s", out, err, c.out)
			}
		})
	}
	for _, c := range []struct{ name, in, want string }{
		{"unknown key", `{"secret":"s","leway":"1s"}`, `unknown field "leway"`},
		{"old revocation object", `{"revocation":{"sync_interval":4000000000}}`, `is now "revocation_sync"`},
		{"a string without a placeholder that is no duration", `{"leeway":"soon"}`, "soon"},
		{"a placeholder in a text-only position", `{"private_key":{"file":"{env.F}","kid":1}}`, "kid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a App
			err := json.Unmarshal([]byte(c.in), &a)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}

	var tc ThrottleConfig
	const throttle = `{"max_per_user":"{env.U}","max_per_ip":20,"window":"{env.W}","capacity":5}`
	if err := json.Unmarshal([]byte(throttle), &tc); err != nil {
		t.Fatal(err)
	}
	if out, err := json.Marshal(tc); err != nil || string(out) != throttle {
		t.Errorf("throttle round trip = %s, %v; want %s", out, err, throttle)
	}
	if err := caddy.StrictUnmarshalJSON([]byte(`{"max":1}`), &tc); err == nil {
		t.Error("an unknown throttle key was accepted")
	}
}

// TestSettingNamesCaddyfileEqualsJSON: every JSON key of the jwt app,
// jwt_auth, jwt_issue and its throttle is a Caddyfile word (by the rule at
// the top of caddyfile.go: a list filled by a repeated singular noun is
// that noun's plural), so every JSON setting can be set from the Caddyfile.
func TestSettingNamesCaddyfileEqualsJSON(t *testing.T) {
	t.Parallel()
	word := func(key string) string {
		switch key {
		case "public_keys", "jwks_urls", "users", "secrets":
			return strings.TrimSuffix(key, "s")
		case "disabled":
			return "" // throttle off
		}
		return key
	}
	check := func(what string, typ reflect.Type, parse func(text string) error, wrap func(word string) string, unknown string) {
		for _, f := range jsonSettingKeys(typ) {
			w := word(f.key)
			if w == "" {
				continue
			}
			err := parse(wrap(w))
			if err != nil && strings.Contains(err.Error(), unknown) {
				t.Errorf("%s: JSON key %q has no Caddyfile word %q: %v", what, f.key, w, err)
			}
		}
	}
	check("jwt", reflect.TypeFor[App](), func(text string) error {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser(text), nil)
		return err
	}, func(w string) string { return "jwt {\n\t" + w + "\n}" }, "unrecognized")
	check("jwt_auth", reflect.TypeFor[Auth](), func(text string) error {
		return new(Auth).UnmarshalCaddyfile(caddyfile.NewTestDispenser(text))
	}, func(w string) string { return "jwt_auth {\n\t" + w + "\n}" }, "unrecognized")
	issue := func(text string) error { return new(Issue).UnmarshalCaddyfile(caddyfile.NewTestDispenser(text)) }
	check("jwt_issue", reflect.TypeFor[Issue](), issue, func(w string) string { return "jwt_issue {\n\t" + w + "\n}" }, "unrecognized")
	check("jwt_issue throttle", reflect.TypeFor[ThrottleConfig](), issue,
		func(w string) string { return "jwt_issue {\n\tthrottle {\n\t\t" + w + "\n\t}\n}" }, "unrecognized")
}

// TestPlaceholdersInListSettings: word settings (token_from, token_type,
// deliver, require), route paths and user lines take placeholders too;
// they adapt as text and are checked once resolved, at Provision.
func TestPlaceholdersInListSettings(t *testing.T) {
	t.Setenv("JWTT_SECRET", strings.Repeat("k", 32))
	t.Setenv("JWTT_FROM", "cookie")
	t.Setenv("JWTT_TYPE", "refresh")
	t.Setenv("JWTT_DELIVER", "cookie")
	t.Setenv("JWTT_LOGIN", "/auth/login")
	t.Setenv("JWTT_HASH", testkit.BcryptHash(t, "pw"))
	t.Setenv("JWTT_ROLE", "admin")
	f := newFixture(t, appConfig(caddyfileApp(t, "jwt {\n\tsecret {env.JWTT_SECRET}\n\ttoken_from header {env.JWTT_FROM}\n}")))
	app := f.app
	if len(app.sources) != 2 || app.sources[1] != sourceCookie {
		t.Fatalf("app token_from %v", app.sources)
	}
	var auth Auth
	if err := auth.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n\ttoken_type {env.JWTT_TYPE}\n\ttoken_from {env.JWTT_FROM}\n\trequire role {env.JWTT_ROLE}\n}")); err != nil {
		t.Fatal(err)
	}
	f.auth(&auth)
	if auth.wantType != token.TypeRefresh || len(*auth.auth.sources) != 1 || (*auth.auth.sources)[0] != sourceCookie || auth.Require[0].Values[0] != "admin" {
		t.Fatalf("jwt_auth resolved to type %q, sources %v, require %v", auth.wantType, *auth.auth.sources, auth.Require)
	}
	h, err := f.provisionIssue(caddyfileIssue(t, "jwt_issue {\n\tlogin {env.JWTT_LOGIN}\n\tdeliver {env.JWTT_DELIVER}\n\tuser alice {env.JWTT_HASH} role={env.JWTT_ROLE}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Login != "/auth/login" || !h.deliverCookie || h.deliverJSON {
		t.Fatalf("jwt_issue resolved to login %q, cookie %v, json %v", h.Login, h.deliverCookie, h.deliverJSON)
	}
	if acct := h.creds.Check("alice", "pw"); acct == nil || acct.Claims["role"] != "admin" {
		t.Fatalf("user line with placeholders: %+v", acct)
	}
	// a resolved word that is not valid is refused at Provision, by name
	t.Setenv("JWTT_FROM", "smoke")
	var bad Auth
	if err := bad.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n\ttoken_from {env.JWTT_FROM}\n}")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tryAuth(&bad); err == nil || !strings.Contains(err.Error(), `token_from: unknown token source "smoke"`) {
		t.Fatalf("token_from resolved to smoke: %v", err)
	}
}

// The on/off switches of the cookie and csrf blocks take placeholders too:
// text in the adapted JSON, on or off once resolved at Provision.
func TestPlaceholdersInSwitches(t *testing.T) {
	t.Setenv("JWTT_SECRET", strings.Repeat("k", 32))
	t.Setenv("JWTT_SESSION", "off")
	t.Setenv("JWTT_PROTECT", "on")
	t.Setenv("JWTT_FORM", "on")
	t.Setenv("JWTT_IN_COOKIES", "off")
	raw := caddyfileApp(t, "jwt {\n\tsecret {env.JWTT_SECRET}\n\tcookie {\n\t\tsession {env.JWTT_SESSION}\n\t}\n\tcsrf {\n\t\tprotect {env.JWTT_PROTECT}\n\t\tcheck_form {env.JWTT_FORM}\n\t\tin_cookies {env.JWTT_IN_COOKIES}\n\t}\n}")
	if !strings.Contains(string(raw), `"session":"{env.JWTT_SESSION}"`) || !strings.Contains(string(raw), `"check_form":"{env.JWTT_FORM}"`) {
		t.Fatalf("adapted JSON %s keeps no placeholder text", raw)
	}
	app := newFixture(t, appConfig(raw)).app
	if app.cookies.session || !app.csrf.protect || !app.csrf.checkForm || app.csrf.inCookies {
		t.Fatalf("resolved switches: session %v protect %v check_form %v in_cookies %v", app.cookies.session, app.csrf.protect, app.csrf.checkForm, app.csrf.inCookies)
	}
	t.Setenv("JWTT_SESSION", "maybe")
	if _, err := tryFixture(t, appConfig(raw)); err == nil || !strings.Contains(err.Error(), `session: {env.JWTT_SESSION} resolved to "maybe", which is not on or off`) {
		t.Fatalf("session resolved to maybe: %v", err)
	}
}
