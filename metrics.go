package jwtextended

import (
	"errors"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the jwt app, registered in Caddy's metrics registry (served by
// the admin API's /metrics and the `metrics` handler) under caddy_jwt_*.
// Like Caddy's own HTTP metrics they belong to the loaded config: a config
// reload starts them from zero, which Prometheus reads as a counter reset.
//
// Every series is bound when the app is provisioned, so counting on the
// request path is one atomic add and allocates nothing.

// outcome is what jwt_auth did with a request, the `outcome` label of
// caddy_jwt_requests_total.
type outcome uint8

const (
	outcomeOK        outcome = iota // verified, passed on
	outcomeAnonymous                // no token on an optional route, passed on
	outcomeMissing                  // no token (or not a Bearer header)
	outcomeExpired
	outcomeInvalid // malformed, bad signature, bad claims, wrong issuer or audience...
	outcomeRevoked
	outcomeNotFresh
	outcomeForbidden // `require` not met (403)
	outcomeWrongType // refresh token where an access token is needed, or the reverse
	outcomeCSRF      // cookie token without the matching X-CSRF-TOKEN
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	outcomeOK:        "ok",
	outcomeAnonymous: "anonymous",
	outcomeMissing:   "missing",
	outcomeExpired:   "expired",
	outcomeInvalid:   "invalid",
	outcomeRevoked:   "revoked",
	outcomeNotFresh:  "not_fresh",
	outcomeForbidden: "forbidden",
	outcomeWrongType: "wrong_type",
	outcomeCSRF:      "csrf",
}

// outcomeOfCode maps the stable reason codes of authError to outcomes;
// a code not listed is an invalid token.
var outcomeOfCode = map[string]outcome{
	"missing":                  outcomeMissing,
	"bad_authorization_header": outcomeMissing,
	"expired":                  outcomeExpired,
	"revoked":                  outcomeRevoked,
	"not_fresh":                outcomeNotFresh,
	"forbidden":                outcomeForbidden,
	"wrong_token_type":         outcomeWrongType,
	"csrf_missing":             outcomeCSRF,
	"csrf_mismatch":            outcomeCSRF,
}

func outcomeOf(e *authError) outcome {
	if o, ok := outcomeOfCode[e.code]; ok {
		return o
	}
	return outcomeInvalid
}

// appMetrics holds the app's bound series. A nil *appMetrics counts
// nothing, so an App built by hand (tests) needs none.
type appMetrics struct {
	requests      [numOutcomes]prometheus.Counter
	issuedAccess  prometheus.Counter
	issuedRefresh prometheus.Counter
	loginFailures prometheus.Counter
	throttled     prometheus.Counter
	jwksOK        prometheus.Counter
	jwksFailed    prometheus.Counter
	// adminRevocations counts revocations made through the admin API, by
	// kind: token (a jti) or identity.
	adminRevocations *prometheus.CounterVec
	// revocationSyncFailures counts syncs of the revocation store that
	// failed (the last known set kept serving).
	revocationSyncFailures prometheus.Counter
}

const metricsNamespace, metricsSubsystem = "caddy", "jwt"

// newAppMetrics creates the app's metrics and registers them in reg (nil:
// not registered). cache may be nil (cache_size 0): its series are then
// not exported.
func newAppMetrics(registry *prometheus.Registry, cache *token.Cache) (*appMetrics, error) {
	var reg prometheus.Registerer
	if registry != nil {
		reg = registry
	}
	m := new(appMetrics)
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	var err error
	register := func(c prometheus.Collector) prometheus.Collector {
		if reg == nil || err != nil {
			return c
		}
		if e := reg.Register(c); e != nil {
			// Registering the same metric twice in one registry (two
			// provisions sharing a context) keeps the first.
			var are prometheus.AlreadyRegisteredError
			if errors.As(e, &are) {
				return are.ExistingCollector
			}
			err = e
		}
		return c
	}

	requests, _ := register(prometheus.NewCounterVec(opts("requests_total",
		"Requests jwt_auth handled, by outcome: ok, anonymous, missing, expired, invalid, revoked, not_fresh, forbidden, wrong_type, csrf."),
		[]string{"outcome"})).(*prometheus.CounterVec)
	issued, _ := register(prometheus.NewCounterVec(opts("tokens_issued_total",
		"Tokens minted by jwt_issue, by kind: access or refresh."),
		[]string{"kind"})).(*prometheus.CounterVec)
	jwks, _ := register(prometheus.NewCounterVec(opts("jwks_fetches_total",
		"Fetches of remote JWK Sets, by result: ok or error."),
		[]string{"result"})).(*prometheus.CounterVec)
	m.loginFailures, _ = register(prometheus.NewCounter(opts("login_failures_total",
		"Logins and reauths refused for bad credentials."))).(prometheus.Counter)
	m.throttled, _ = register(prometheus.NewCounter(opts("login_throttled_total",
		"Logins refused with 429 after too many failures."))).(prometheus.Counter)
	m.adminRevocations, _ = register(prometheus.NewCounterVec(opts("admin_revocations_total",
		"Revocations made through the admin API (/jwt/revoke), by kind: token or identity."),
		[]string{"kind"})).(*prometheus.CounterVec)
	m.revocationSyncFailures, _ = register(prometheus.NewCounter(opts("revocation_sync_failures_total",
		"Syncs of the revoked token ids from storage that failed; the last known set kept serving."))).(prometheus.Counter)
	if cache != nil {
		for _, c := range []struct {
			name, help string
			v          func() uint64
		}{
			{"cache_hits_total", "Verifications answered by the verified-token cache.", cache.Hits},
			{"cache_misses_total", "Verifications that parsed and checked the token's signature.", cache.Misses},
			{"cache_evictions_total", "Verified tokens dropped from the full cache to make room.", cache.Evictions},
		} {
			v := c.v
			register(prometheus.NewCounterFunc(opts(c.name, c.help), func() float64 { return float64(v()) }))
		}
		register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "cache_entries", Help: "Verified tokens in the cache.",
		}, func() float64 { return float64(cache.Len()) }))
	}
	if err != nil {
		return nil, err
	}
	if requests == nil || issued == nil || jwks == nil || m.loginFailures == nil || m.throttled == nil || m.adminRevocations == nil || m.revocationSyncFailures == nil {
		return nil, errors.New("jwt: metrics: a metric of another type is registered under a caddy_jwt_ name")
	}
	for o := range m.requests {
		m.requests[o] = requests.WithLabelValues(outcomeNames[o])
	}
	m.issuedAccess = issued.WithLabelValues(token.TypeAccess)
	m.issuedRefresh = issued.WithLabelValues(token.TypeRefresh)
	m.jwksOK = jwks.WithLabelValues("ok")
	m.jwksFailed = jwks.WithLabelValues("error")
	return m, nil
}

func (m *appMetrics) countRequest(o outcome) {
	if m != nil {
		m.requests[o].Inc()
	}
}

// countRefused counts a request jwt_auth refused with e.
func (m *appMetrics) countRefused(e *authError) {
	if m != nil {
		m.requests[outcomeOf(e)].Inc()
	}
}

// countIssued counts a minted token of kind access or refresh (other kinds
// are not counted).
func (m *appMetrics) countIssued(kind string) {
	if m == nil {
		return
	}
	switch kind {
	case token.TypeAccess:
		m.issuedAccess.Inc()
	case token.TypeRefresh:
		m.issuedRefresh.Inc()
	}
}

// countLoginFailure counts a login or reauth refused for bad credentials.
func (m *appMetrics) countLoginFailure() {
	if m != nil {
		m.loginFailures.Inc()
	}
}

// countThrottled counts a login refused with 429.
func (m *appMetrics) countThrottled() {
	if m != nil {
		m.throttled.Inc()
	}
}

// countJWKSFetch counts a fetch of a remote JWK Set.
func (m *appMetrics) countJWKSFetch(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.jwksOK.Inc()
	} else {
		m.jwksFailed.Inc()
	}
}

// countAdminRevocation counts a revocation made through the admin API.
func (m *appMetrics) countAdminRevocation(kind string) {
	if m != nil {
		m.adminRevocations.WithLabelValues(kind).Inc()
	}
}

// countRevocationSyncFailure counts a failed sync of the revocation store.
func (m *appMetrics) countRevocationSyncFailure() {
	if m != nil {
		m.revocationSyncFailures.Inc()
	}
}
