package jwtextended

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Tests of the operations log (audit.go): login lines, the fail2ban
// filter of docs/issuer.md, the startup key lines; never a password, a
// token or key material.

// wantLogLine finds the one entry with msg and checks its string fields.
func wantLogLine(t *testing.T, logs *observer.ObservedLogs, msg string, want map[string]string) {
	t.Helper()
	got := logs.FilterMessage(msg).All()
	if len(got) != 1 {
		t.Fatalf("%d %q lines, want 1 (all: %v)", len(got), msg, logs.All())
	}
	if got[0].Level != zapcore.InfoLevel {
		t.Errorf("%q at %s, want info", msg, got[0].Level)
	}
	fields := got[0].ContextMap()
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%q: %s = %v, want %q", msg, k, fields[k], v)
		}
	}
}

// wantNoSecretsLogged fails when any logged entry holds one of secrets.
func wantNoSecretsLogged(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, entry := range logs.All() {
		line, _ := json.Marshal(entry.ContextMap())
		for _, s := range secrets {
			if s != "" && (strings.Contains(string(line), s) || strings.Contains(entry.Message, s)) {
				t.Errorf("log line %q %s holds a secret (%.12s...)", entry.Message, line, s)
			}
		}
	}
}

func TestLoginLogSucceeded(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	logs := e.observeIssuer()
	w := e.do(jsonPost("/login", creds("alice", fixturePassword)))
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	body := bodyJSON(t, w)
	wantLogLine(t, logs, msgLoginSucceeded, map[string]string{"identity": "alice", "remote_ip": fixtureIP, "route": "login", "path": "/login"})
	access := body["access_token"].(string)
	r := e.do(withBearer(jsonPost("/reauth", creds("alice", fixturePassword)), access))
	if r.Code != http.StatusOK {
		t.Fatalf("reauth: %d %s", r.Code, r.Body)
	}
	if n := len(logs.FilterMessage(msgLoginSucceeded).FilterField(zap.String("route", "reauth")).All()); n != 1 {
		t.Errorf("%d reauth lines, want 1", n)
	}
	wantNoSecretsLogged(t, logs, fixturePassword, access, body["refresh_token"].(string), fixtureSecret)
}

func TestLoginLogFailed(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(issuerJSON(`{"throttle": {"max_per_user": 2}}`)))
	logs := e.observeIssuer()
	for range 3 {
		e.do(jsonPost("/login", creds("alice", "wrong password 42")))
	}
	failed := logs.FilterMessage(msgLoginFailed).All()
	if len(failed) != 3 {
		t.Fatalf("%d failed-login lines, want 3: %v", len(failed), logs.All())
	}
	for i, reason := range []string{"bad_credentials", "bad_credentials", "throttled"} {
		f := failed[i].ContextMap()
		if f["username"] != "alice" || f["remote_ip"] != fixtureIP || f["reason"] != reason || f["route"] != "login" {
			t.Errorf("line %d: %v, want alice from %s, %s", i, f, fixtureIP, reason)
		}
	}
	wantNoSecretsLogged(t, logs, "wrong password 42", fixturePassword)

	long := strings.Repeat("é", 200)
	e.do(jsonPost("/reauth", creds(long, "x")))
	last := logs.FilterMessage(msgLoginFailed).All()
	u := last[len(last)-1].ContextMap()["username"].(string)
	if len(u) > maxLoggedUsername+len("…") || !strings.HasSuffix(u, "…") || strings.ContainsRune(u, '\uFFFD') {
		t.Errorf("a long username is logged as %q (%d bytes)", u, len(u))
	}
}

func TestLoginLogDelegated(t *testing.T) {
	t.Parallel()
	app := &delegateApp{answer: vouch("alice", "")}
	e := newFixture(t, withIssuer(delegated(false, nil)))
	logs := e.observeIssuer()
	if w, err := e.doNext(delegateLogin("alice", "pw-from-the-app"), app); err != nil || w.Code != http.StatusOK {
		t.Fatalf("delegated login: %v %d %s", err, w.Code, w.Body)
	}
	wantLogLine(t, logs, msgLoginSucceeded, map[string]string{"identity": "alice", "remote_ip": fixtureIP, "route": "login"})
	app.answer = answerWith(http.StatusUnauthorized, "no")
	if _, err := e.doNext(delegateLogin("bob", "pw-from-the-app"), app); err != nil {
		t.Fatal(err)
	}
	wantLogLine(t, logs, msgLoginFailed, map[string]string{"username": "bob", "remote_ip": fixtureIP, "reason": "refused_upstream"})
	wantNoSecretsLogged(t, logs, "pw-from-the-app")
}

// caddyJSONLine writes entry as Caddy's default JSON log encoder does
// (epoch seconds in ts, level, logger, msg, then the fields).
func caddyJSONLine(t *testing.T, entry observer.LoggedEntry) string {
	t.Helper()
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = func(ts time.Time, enc zapcore.PrimitiveArrayEncoder) {
		enc.AppendFloat64(float64(ts.UnixNano()) / 1e9)
	}
	entry.LoggerName = "http.handlers.jwt_issue"
	buf, err := zapcore.NewJSONEncoder(cfg).EncodeEntry(entry.Entry, entry.Context)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}

// fail2banRegex turns the failregex of docs/issuer.md into a Go regexp,
// with <HOST> as fail2ban expands it (a named group of the address).
func fail2banRegex(t *testing.T) *regexp.Regexp {
	t.Helper()
	doc, err := os.ReadFile("docs/issuer.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^failregex = (.+)$`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/issuer.md has no failregex line")
	}
	expr := strings.Replace(string(m[1]), "<HOST>", `(?P<host>[0-9A-Fa-f.:]+)`, 1)
	return regexp.MustCompile(expr)
}

func TestFail2banFilterMatchesLoginFailed(t *testing.T) {
	t.Parallel()
	re := fail2banRegex(t)
	e := newFixture(t, withIssuer())
	logs := e.observeIssuer()
	for _, name := range []string{"alice", `x","remote_ip":"198.51.100.66`, `"msg":"login failed","remote_ip":"198.51.100.66"`} {
		e.do(jsonPost("/login", creds(name, "wrong")))
	}
	e.doFrom("2001:db8::7", jsonPost("/login", creds("alice", "wrong")))
	e.do(jsonPost("/login", creds("alice", fixturePassword)))
	failed := logs.FilterMessage(msgLoginFailed).All()
	if len(failed) != 4 {
		t.Fatalf("%d failed-login lines, want 4", len(failed))
	}
	for i, entry := range failed {
		line := caddyJSONLine(t, entry)
		m := re.FindStringSubmatch(line)
		want := fixtureIP
		if i == 3 {
			want = "2001:db8::7"
		}
		if m == nil || m[re.SubexpIndex("host")] != want {
			t.Errorf("failregex %s on %s: %q, want host %s", re, line, m, want)
		}
		if n := len(re.FindAllString(line, -1)); n != 1 {
			t.Errorf("failregex matches %d times in %s", n, line)
		}
	}
	ok := caddyJSONLine(t, logs.FilterMessage(msgLoginSucceeded).All()[0])
	if re.MatchString(ok) {
		t.Errorf("failregex matches a successful login: %s", ok)
	}
	var probe map[string]any
	if err := json.NewDecoder(bytes.NewReader([]byte(ok))).Decode(&probe); err != nil {
		t.Errorf("the encoded line is not JSON: %v", err)
	}
}

func TestStartupLogNamesKeys(t *testing.T) {
	t.Parallel()
	secrets := []SecretKey{{Key: fixtureSecret, KID: "2025"}, {Key: fixtureSecret + "-old", KID: "2024"}}
	app := newFixture(t, withApp(func(a *App) { a.Secret, a.Secrets = "", secrets })).app
	core, logs := observer.New(zap.InfoLevel)
	logKeys(zap.New(core), app.ring, []string{"https://idp.example/jwks.json"})
	lines := logs.All()
	if len(lines) != 3 {
		t.Fatalf("%d lines, want one per key and per jwks_url: %v", len(lines), lines)
	}
	for i, want := range []map[string]any{
		{"alg": "HS256", "kid": "2025", "source": "secret 1"},
		{"alg": "HS256", "kid": "2024", "source": "secret 2"},
		{"source": "jwks_url https://idp.example/jwks.json"},
	} {
		got := lines[i].ContextMap()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("line %d (%s): %s = %v, want %v", i, lines[i].Message, k, got[k], v)
			}
		}
	}
	wantNoSecretsLogged(t, logs, fixtureSecret)

	pemPath := testkit.WritePKCS8(t, testkit.Keys()["p256"])
	app = newFixture(t, withAppJSON(`{"secret": null, "private_key": {"file": `+string(testkit.MustJSON(t, pemPath))+`, "kid": "ec1"}}`)).app
	core, logs = observer.New(zap.InfoLevel)
	logKeys(zap.New(core), app.ring, nil)
	wantLogLine(t, logs, "key loaded", map[string]string{"alg": "ES256", "kid": "ec1", "source": "private_key " + pemPath})
}

// TestRefusalLogRemoteIP: jwt_auth's refusal line names the client IP as
// jwt_issue does, without the port, and Caddy's client IP (trusted_proxies)
// when the server set one.
func TestRefusalLogRemoteIP(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	core, logs := observer.New(zap.DebugLevel)
	h.logger = zap.New(core)
	r := bearerGet("a.b.c")
	r.RemoteAddr = "192.0.2.44:51234"
	serve(h, r)
	r = bearerGet("a.b.c")
	r.RemoteAddr = "10.0.0.2:443" // a trusted proxy; Caddy set the client's IP
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.9"}))
	serve(h, r)
	lines := logs.FilterMessage("request refused").All()
	if len(lines) != 2 {
		t.Fatalf("%d refusal lines, want 2", len(lines))
	}
	for i, want := range []string{"192.0.2.44", "203.0.113.9"} {
		if got := lines[i].ContextMap()["remote_ip"]; got != want {
			t.Errorf("refusal %d: remote_ip %v, want %s", i, got, want)
		}
	}
}
