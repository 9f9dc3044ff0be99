package jwtextended

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue gathers reg and returns the value of the series name
// whose label (if any) has value; ok is false when there is no such series.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, label, value string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && !hasLabel(m, label, value) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}

// metricSeries is one expected series value.
type metricSeries struct {
	name, label, value string
	want               float64
}

// wantMetrics checks each expected series in reg.
func wantMetrics(t *testing.T, reg prometheus.Gatherer, want []metricSeries) {
	t.Helper()
	for _, c := range want {
		if got, ok := metricValue(t, reg, c.name, c.label, c.value); !ok || got != c.want {
			t.Errorf("%s{%s=%q} = %v (present %v), want %v", c.name, c.label, c.value, got, ok, c.want)
		}
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestMetricsRequestsByOutcome drives jwt_auth through every outcome and
// reads the counters back from Caddy's metrics registry.
func TestMetricsRequestsByOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t, appConfig([]byte(`{"secret":"`+benchSecret+`"}`)), wallClock(), withUpstream(http.StatusNoContent, ""))
	a, reg := f.app, f.reg
	now := time.Now().Unix()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "alice", "type": "access", "fresh": false, "jti": "j-" + strconv.Itoa(len(extra)), "iat": now, "exp": now + 600, "role": "user"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	good := f.token(claims(nil))
	revoked := f.token(claims(map[string]any{"jti": "gone"}))
	if err := f.revoke("gone", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	plain := f.auth(&Auth{})
	optional := f.auth(&Auth{Optional: true})
	fresh := f.auth(&Auth{FreshRequired: true})
	admin := f.auth(&Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}})

	for _, step := range []struct {
		h      *Auth
		token  string
		status int
	}{
		{plain, good, 204},
		{plain, good, 204},
		{optional, "", 204},
		{plain, "", 401},
		{plain, f.token(claims(map[string]any{"exp": now - 10})), 401},
		{plain, good[:len(good)-2] + "AA", 401},
		{plain, "not-a-token", 401},
		{plain, revoked, 401},
		{fresh, good, 401},
		{admin, good, 403},
		{plain, f.token(claims(map[string]any{"type": "refresh"})), 401},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if step.token != "" {
			r.Header.Set("Authorization", "Bearer "+step.token)
		}
		res := f.serve(step.h, r)
		if res.err != nil {
			t.Fatalf("ServeHTTP: %v", res.err)
		}
		if got := res.rec.Code; got != step.status {
			t.Fatalf("token %.20q: status %d, want %d", step.token, got, step.status)
		}
	}
	for o, want := range map[string]float64{
		"ok": 2, "anonymous": 1, "missing": 1, "expired": 1, "invalid": 2,
		"revoked": 1, "not_fresh": 1, "forbidden": 1, "wrong_type": 1, "csrf": 0,
	} {
		got, ok := metricValue(t, reg, "caddy_jwt_requests_total", "outcome", o)
		if !ok || got != want {
			t.Errorf("caddy_jwt_requests_total{outcome=%q} = %v (present %v), want %v", o, got, ok, want)
		}
	}

	// the cache saw the good token twice, and again on the refused
	// fresh_required and require routes
	if got, _ := metricValue(t, reg, "caddy_jwt_cache_hits_total", "", ""); got != float64(a.cache.Hits()) || got < 3 {
		t.Errorf("caddy_jwt_cache_hits_total = %v, cache says %d (want at least 3)", got, a.cache.Hits())
	}
	if got, _ := metricValue(t, reg, "caddy_jwt_cache_misses_total", "", ""); got != float64(a.cache.Misses()) || got < 1 {
		t.Errorf("caddy_jwt_cache_misses_total = %v, cache says %d", got, a.cache.Misses())
	}
	if got, _ := metricValue(t, reg, "caddy_jwt_cache_entries", "", ""); got != float64(a.cache.Len()) || got < 1 {
		t.Errorf("caddy_jwt_cache_entries = %v, cache holds %d", got, a.cache.Len())
	}
}

// TestMetricsAppCounters checks the counters other parts of the app call.
func TestMetricsAppCounters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, appConfig([]byte(`{"secret":"`+benchSecret+`","cache_size":0}`)), wallClock())
	a, reg := f.app, f.reg
	a.metrics.countIssued(token.TypeAccess)
	a.metrics.countIssued(token.TypeAccess)
	a.metrics.countIssued(token.TypeRefresh)
	a.metrics.countIssued("other") // not a kind: not counted
	a.metrics.countLoginFailure()
	a.metrics.countLoginFailure()
	a.metrics.countLoginFailure()
	a.metrics.countThrottled()
	a.metrics.countJWKSFetch(true)
	a.metrics.countJWKSFetch(false)
	a.metrics.countJWKSFetch(false)
	wantMetrics(t, reg, []metricSeries{
		{"caddy_jwt_tokens_issued_total", "kind", "access", 2},
		{"caddy_jwt_tokens_issued_total", "kind", "refresh", 1},
		{"caddy_jwt_login_failures_total", "", "", 3},
		{"caddy_jwt_login_throttled_total", "", "", 1},
		{"caddy_jwt_jwks_fetches_total", "result", "ok", 1},
		{"caddy_jwt_jwks_fetches_total", "result", "error", 2},
	})
	if _, ok := metricValue(t, reg, "caddy_jwt_cache_hits_total", "", ""); ok {
		t.Error("cache series exported with cache_size 0")
	}
}

// TestMetricsRegistration: a second registration in the same registry
// shares the first one's series; a name taken by another type is an error;
// an App without metrics counts nothing and does not fail.
func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m1, err := newAppMetrics(reg, token.NewCache(10))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := newAppMetrics(reg, token.NewCache(10))
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	m1.countRequest(outcomeOK)
	m2.countRequest(outcomeOK)
	if got, _ := metricValue(t, reg, "caddy_jwt_requests_total", "outcome", "ok"); got != 2 {
		t.Fatalf("requests ok = %v, want 2 (shared series)", got)
	}

	taken := prometheus.NewPedanticRegistry()
	taken.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "caddy_jwt_login_failures_total", Help: "x"}))
	if _, err := newAppMetrics(taken, nil); err == nil {
		t.Fatal("newAppMetrics accepted a registry where its name is taken by a gauge")
	}

	var none *appMetrics
	none.countRequest(outcomeOK)
	none.countRefused(errExpired)
	(&App{}).metrics.countIssued(token.TypeAccess)
	(&App{}).metrics.countLoginFailure()
	(&App{}).metrics.countThrottled()
	(&App{}).metrics.countJWKSFetch(true)
}

// TestMetricsOutcomeOfEveryCode: every refusal code maps to an outcome,
// and the named ones to theirs.
func TestMetricsOutcomeOfEveryCode(t *testing.T) {
	t.Parallel()
	for e, want := range map[*authError]outcome{
		errMissingHeader: outcomeMissing, errBadHeaderType: outcomeMissing, errExpired: outcomeExpired,
		errSignature: outcomeInvalid, errMalformed: outcomeInvalid, errAudience: outcomeInvalid,
		errRevoked: outcomeRevoked, stepUpRefusal(time.Minute, []string{"mfa"}): outcomeNotFresh, errForbidden: outcomeForbidden,
		errRefreshNotAllowed: outcomeWrongType, errAccessNotAllowed: outcomeWrongType,
		errMissingCSRF: outcomeCSRF, errCSRFMismatch: outcomeCSRF,
	} {
		if got := outcomeOf(e); got != want {
			t.Errorf("outcomeOf(%s) = %s, want %s", e.code, outcomeNames[got], outcomeNames[want])
		}
	}
}

// TestMetricsCountingAllocatesNothing: counting on the request path is an
// atomic add.
func TestMetricsCountingAllocatesNothing(t *testing.T) {
	m, err := newAppMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		m.countRequest(outcomeOK)
		m.countRefused(errExpired)
		m.countRefused(errSignature)
	}); n != 0 {
		t.Fatalf("counting allocates %v times, want 0", n)
	}
}

// TestMetricsCountedOnTheRoutes: the issuer's routes and the JWKS fetch
// drive the counters (not only the counting methods in isolation).
func TestMetricsCountedOnTheRoutes(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	e := newFixture(t, withApp(func(a *App) { a.JWKSURLs = []string{down.URL} }), withIssuer(issuerJSON(`{"throttle": {"max_per_user": 2, "max_per_ip": 100}}`)))
	login := func(pw string) int {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(creds("alice", pw)))
		r.Header.Set("Content-Type", "application/json")
		return e.do(r).Code
	}
	if c := login(fixturePassword); c != 200 {
		t.Fatalf("login: %d", c)
	}
	for i, want := range []int{401, 401, 429} {
		if c := login("wrong"); c != want {
			t.Fatalf("bad login %d: %d, want %d", i, c, want)
		}
	}
	_ = e.app.ring.Refresh(context.Background()) // a failed fetch
	wantMetrics(t, e.reg, []metricSeries{
		{"caddy_jwt_tokens_issued_total", "kind", "access", 1},
		{"caddy_jwt_tokens_issued_total", "kind", "refresh", 1},
		{"caddy_jwt_login_failures_total", "", "", 2},
		{"caddy_jwt_login_throttled_total", "", "", 1},
		{"caddy_jwt_jwks_fetches_total", "result", "error", 1},
	})
}
