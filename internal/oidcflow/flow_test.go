package oidcflow

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
)

func TestLoginConfidentialClient(t *testing.T) {
	e := newEnv(t, nil)
	e.op.set(func(op *testOP) {
		// the user authenticated at the provider 30s before the callback
		op.claims = func(g *grant, c map[string]any) { c["auth_time"] = testStart.Add(-30 * time.Second).Unix() }
	})
	authURL, sealed, err := e.flow.Begin(context.Background(), testCallback, "/after", nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("scope") != "openid email profile" || q.Get("redirect_uri") != testCallback || q.Has("prompt") || q.Has("max_age") {
		t.Fatalf("authorization request %v", q)
	}
	if len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 || q.Get("state") == q.Get("nonce") {
		t.Fatalf("state %q and nonce %q are not two base64url 32-byte values", q.Get("state"), q.Get("nonce"))
	}
	for _, v := range []string{q.Get("state"), q.Get("nonce"), q.Get("code_challenge")} {
		if strings.Contains(sealed, v) {
			t.Fatal("the sealed transaction shows a secret in clear")
		}
	}
	if e.flow.CookieName() != "jwt_oidc_corp" {
		t.Fatalf("cookie name %q", e.flow.CookieName())
	}
	callback := e.op.authorize(t, authURL)
	res, err := finish(t, e.flow, callback, sealed)
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{
		Identity: testSubject,
		Subject:  testSubject,
		AuthTime: testStart.Add(-30 * time.Second),
		AMR:      []string{"pwd", "otp"},
		ACR:      "urn:example:loa:2",
		Claims:   map[string]any{"email": "user1@example.com", "name": "User One"},
		Fresh:    true,
		ReturnTo: "/after",
	}
	if !res.AuthTime.Equal(want.AuthTime) {
		t.Fatalf("auth_time %v, want %v", res.AuthTime, want.AuthTime)
	}
	res.AuthTime = want.AuthTime
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result\n%+v\nwant\n%+v", res, want)
	}
	e.op.read(func(op *testOP) {
		if op.tokenHits != 1 || op.uiHits != 1 {
			t.Fatalf("token endpoint %d, userinfo %d calls; want 1 and 1 (name is not in the ID token)", op.tokenHits, op.uiHits)
		}
		f := op.tokenForms[0]
		if !strings.HasPrefix(op.tokenAuthHdr[0], "Basic ") || f.Has("client_secret") || f.Get("code_verifier") == "" {
			t.Fatalf("token request: Authorization %q, form %v", op.tokenAuthHdr[0], f)
		}
	})
}

func TestLoginPublicClient(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ClientSecret = "" })
	e.op.set(func(op *testOP) { op.secret = "" })
	res, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity != testSubject {
		t.Fatalf("identity %q", res.Identity)
	}
	e.op.read(func(op *testOP) {
		f := op.tokenForms[0]
		if op.tokenAuthHdr[0] != "" || f.Has("client_secret") || f.Get("client_id") != testClientID || f.Get("code_verifier") == "" {
			t.Fatalf("public client's token request: Authorization %q, form %v", op.tokenAuthHdr[0], f)
		}
	})
}

func TestClientSecretPost(t *testing.T) {
	e := newEnv(t, nil)
	e.op.set(func(op *testOP) {
		op.discovery["token_endpoint_auth_methods_supported"] = []string{"client_secret_post"}
	})
	_, _ = e.login(t) // the test OP wants basic: this one fails, what matters is what was sent
	e.op.read(func(op *testOP) {
		f := op.tokenForms[0]
		if op.tokenAuthHdr[0] != "" || f.Get("client_secret") != testSecret || f.Get("client_id") != testClientID {
			t.Fatalf("client_secret_post token request: Authorization %q, form %v", op.tokenAuthHdr[0], f)
		}
	})
}

// A code issued for another transaction's PKCE challenge is refused by the
// token endpoint, which checks the verifier: a stolen or injected code is
// useless without the verifier sealed in its own transaction.
func TestPKCEVerifierBindsTheCode(t *testing.T) {
	e := newEnv(t, nil)
	q1, _ := e.begin(t, e.flow, nil)
	q2, sealed2 := e.begin(t, e.flow, nil)
	injected := url.Values{"code": {q1.Get("code")}, "state": {q2.Get("state")}}
	_, err := finish(t, e.flow, injected, sealed2)
	wantError(t, err, http.StatusUnauthorized, MsgRefused)
	e.op.read(func(op *testOP) {
		if op.tokenHits != 1 {
			t.Fatalf("token endpoint called %d times", op.tokenHits)
		}
	})
}

func TestStateRefusals(t *testing.T) {
	e := newEnv(t, nil)
	q, sealed := e.begin(t, e.flow, nil)
	otherKey, _ := NewSealer([]byte("ffffffffffffffffffffffffffffffff"))
	tx, err := e.flow.sealer.openTx(e.flow.aad, sealed)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := otherKey.sealTx(e.flow.aad, tx)
	otherFlow, _ := e.flow.sealer.sealTx(txAAD(CookiePrefix+"other", "other"), tx)
	expired := *tx
	expired.V = 2
	badVersion, _ := e.flow.sealer.sealTx(e.flow.aad, &expired)
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
		tampered[len(tampered)/2] = 'A'
	}
	with := func(edit func(v url.Values)) url.Values {
		v := url.Values{}
		for k, s := range q {
			v[k] = append([]string(nil), s...)
		}
		edit(v)
		return v
	}
	for _, c := range []struct {
		name   string
		query  url.Values
		sealed string
		cb     string
	}{
		{"no cookie", q, "", testCallback},
		{"no state", with(func(v url.Values) { v.Del("state") }), sealed, testCallback},
		{"empty state", with(func(v url.Values) { v.Set("state", "") }), sealed, testCallback},
		{"wrong state", with(func(v url.Values) { v.Set("state", strings.Repeat("A", 43)) }), sealed, testCallback},
		{"two states", with(func(v url.Values) { v.Add("state", q.Get("state")) }), sealed, testCallback},
		{"tampered cookie", q, string(tampered), testCallback},
		{"truncated cookie", q, sealed[:len(sealed)-4], testCallback},
		{"cookie sealed by another key", q, foreign, testCallback},
		{"cookie of another flow", q, otherFlow, testCallback},
		{"unknown version", q, badVersion, testCallback},
		{"not base64url", q, sealed + "=", testCallback},
		{"oversized cookie", q, strings.Repeat("A", MaxSealed+1), testCallback},
		{"another callback URL", q, sealed, "https://evil.example.com/cb"},
		{"iss of another provider", with(func(v url.Values) { v.Set("iss", "https://evil.example.com") }), sealed, testCallback},
		{"no code", with(func(v url.Values) { v.Del("code") }), sealed, testCallback},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.flow.Finish(context.Background(), c.cb, c.query, c.sealed)
			wantError(t, err, http.StatusUnauthorized, MsgState)
		})
	}
	e.op.read(func(op *testOP) {
		if op.tokenHits != 0 {
			t.Fatalf("the token endpoint was called %d times for refused callbacks", op.tokenHits)
		}
	})
	// "no code" consumed the transaction (its state was right); a fresh
	// one with the provider's iss (RFC 9207) passes
	q2, sealed2 := e.begin(t, e.flow, nil)
	q2.Set("iss", e.op.issuer())
	if _, err := finish(t, e.flow, q2, sealed2); err != nil {
		t.Fatalf("callback with the right iss: %v", err)
	}
}

func TestTransactionExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TxTTL = 2 * time.Minute })
	q, sealed := e.begin(t, e.flow, nil)
	e.clock.Advance(2*time.Minute + time.Second)
	_, err := finish(t, e.flow, q, sealed)
	fe := wantError(t, err, http.StatusUnauthorized, MsgState)
	if !strings.Contains(fe.Cause.Error(), "expired") {
		t.Fatalf("cause %v", fe.Cause)
	}
	q, sealed = e.begin(t, e.flow, nil)
	e.clock.Advance(2*time.Minute - time.Second)
	if _, err := finish(t, e.flow, q, sealed); err != nil {
		t.Fatalf("a transaction within its lifetime: %v", err)
	}
}

func TestReplayedCallback(t *testing.T) {
	e := newEnv(t, nil)
	q, sealed := e.begin(t, e.flow, nil)
	if _, err := finish(t, e.flow, q, sealed); err != nil {
		t.Fatal(err)
	}
	_, err := finish(t, e.flow, q, sealed)
	wantError(t, err, http.StatusUnauthorized, MsgState)

	// across two instances (two flows, two storages on one folder)
	onceB := NewStorageOnce(testkit.NewStorage(t, e.dir, "b"), "jwt/oidc/used", e.clock.Now)
	flowB := e.newFlow(t, onceB, nil)
	q, sealed = e.begin(t, e.flow, nil)
	if _, err := finish(t, flowB, q, sealed); err != nil {
		t.Fatalf("instance b finishing a login instance a began: %v", err)
	}
	_, err = finish(t, e.flow, q, sealed)
	wantError(t, err, http.StatusUnauthorized, MsgState)
	e.op.read(func(op *testOP) {
		if op.tokenHits != 2 {
			t.Fatalf("token endpoint called %d times, want 2 (replays never reach it)", op.tokenHits)
		}
	})
}

func TestProviderErrorParam(t *testing.T) {
	e := newEnv(t, nil)
	q, sealed := e.begin(t, e.flow, nil)
	refused := url.Values{"error": {"access_denied"}, "error_description": {"User said no"}, "state": q["state"]}
	_, err := finish(t, e.flow, refused, sealed)
	fe := wantError(t, err, http.StatusUnauthorized, MsgRefused)
	if !strings.Contains(fe.Cause.Error(), "access_denied") {
		t.Fatalf("cause %v does not name the provider's error", fe.Cause)
	}
	// the transaction is consumed: the code cannot follow
	_, err = finish(t, e.flow, q, sealed)
	wantError(t, err, http.StatusUnauthorized, MsgState)
	e.op.read(func(op *testOP) {
		if op.tokenHits != 0 {
			t.Fatalf("token endpoint called %d times", op.tokenHits)
		}
	})
}

func TestTokenEndpointFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(op *testOP)
		status int
		msg    string
	}{
		{"500", func(op *testOP) { op.tokenStat, op.tokenBody = 500, "oops" }, 502, MsgUnavailable},
		{"invalid_client", func(op *testOP) { op.secret = "another" }, 502, MsgUnavailable},
		{"invalid_grant", func(op *testOP) {
			op.tokenStat, op.tokenBody = 400, `{"error":"invalid_grant"}`
		}, 401, MsgRefused},
		{"not JSON", func(op *testOP) { op.tokenStat, op.tokenBody = 200, "<html>" }, 502, MsgUnavailable},
		{"no access_token", func(op *testOP) { op.tokenStat, op.tokenBody = 200, `{"token_type":"Bearer","id_token":"x.y.z"}` }, 502, MsgUnavailable},
		{"no id_token", func(op *testOP) { op.noIDToken = true }, 502, MsgUnavailable},
		{"unreachable", func(op *testOP) { op.discovery["token_endpoint"] = closedURL(op.t) + "/token" }, 502, MsgUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.op.set(c.edit)
			_, err := e.login(t)
			wantError(t, err, c.status, c.msg)
		})
	}
}

func TestTokenEndpointTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := newSlowServer(t, block)
	e := newEnv(t, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} })
	e.op.set(func(op *testOP) { op.discovery["token_endpoint"] = slow + "/token" })
	_, err := e.login(t)
	close(block)
	wantError(t, err, http.StatusBadGateway, MsgUnavailable)
}

// newSlowServer answers nothing until block is closed.
func newSlowServer(t *testing.T, block chan struct{}) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(s.Close)
	return s.URL
}

func TestIDTokenChecks(t *testing.T) {
	hmacSign := func(t *testing.T) func(c map[string]any) string {
		return func(c map[string]any) string {
			return testkit.SignToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "k1"}, c)
		}
	}
	for _, c := range []struct {
		name   string
		leeway time.Duration
		edit   func(t *testing.T, op *testOP)
		status int // 0: accepted
		msg    string
	}{
		{"valid", 0, func(t *testing.T, op *testOP) {}, 0, ""},
		{"wrong nonce", 0, claimsEdit(func(c map[string]any) { c["nonce"] = "another" }), 401, MsgIDToken},
		{"no nonce", 0, claimsEdit(func(c map[string]any) { delete(c, "nonce") }), 401, MsgIDToken},
		{"wrong aud", 0, claimsEdit(func(c map[string]any) { c["aud"] = "another-client" }), 401, MsgIDToken},
		{"aud list with client", 0, claimsEdit(func(c map[string]any) { c["aud"] = []string{testClientID}; c["azp"] = testClientID }), 0, ""},
		{"aud list of two without azp", 0, claimsEdit(func(c map[string]any) { c["aud"] = []string{testClientID, "api"} }), 401, MsgIDToken},
		{"aud list of two with azp", 0, claimsEdit(func(c map[string]any) { c["aud"] = []string{testClientID, "api"}; c["azp"] = testClientID }), 0, ""},
		{"azp mismatch", 0, claimsEdit(func(c map[string]any) { c["azp"] = "another-client" }), 401, MsgIDToken},
		{"azp not a string", 0, claimsEdit(func(c map[string]any) { c["azp"] = 1 }), 401, MsgIDToken},
		{"wrong iss", 0, claimsEdit(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), 401, MsgIDToken},
		{"iss with trailing slash", 0, claimsEdit(func(c map[string]any) { c["iss"] = c["iss"].(string) + "/" }), 401, MsgIDToken},
		{"expired", 0, claimsEdit(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 1 }), 401, MsgIDToken},
		{"expired within leeway", 5 * time.Second, claimsEdit(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 4 }), 0, ""},
		{"expired beyond leeway", 5 * time.Second, claimsEdit(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 6 }), 401, MsgIDToken},
		{"no exp", 0, claimsEdit(func(c map[string]any) { delete(c, "exp") }), 401, MsgIDToken},
		{"iat in the future", 0, claimsEdit(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 1 }), 401, MsgIDToken},
		{"iat in the future within leeway", 5 * time.Second, claimsEdit(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 5 }), 0, ""},
		{"iat beyond leeway", 5 * time.Second, claimsEdit(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 6 }), 401, MsgIDToken},
		{"no iat", 0, claimsEdit(func(c map[string]any) { delete(c, "iat") }), 401, MsgIDToken},
		{"no sub", 0, claimsEdit(func(c map[string]any) { delete(c, "sub") }), 401, MsgIDToken},
		{"auth_time in the future", 0, claimsEdit(func(c map[string]any) { c["auth_time"] = c["iat"].(int64) + 1 }), 401, MsgIDToken},
		{"auth_time a string", 0, claimsEdit(func(c map[string]any) { c["auth_time"] = "1700000000" }), 401, MsgIDToken},
		{"amr an object", 0, claimsEdit(func(c map[string]any) { c["amr"] = map[string]any{"pwd": true} }), 401, MsgIDToken},
		{"amr with a number", 0, claimsEdit(func(c map[string]any) { c["amr"] = []any{"pwd", 1} }), 401, MsgIDToken},
		{"acr a number", 0, claimsEdit(func(c map[string]any) { c["acr"] = 2 }), 401, MsgIDToken},
		{"alg none", 0, func(t *testing.T, op *testOP) {
			op.sign = func(c map[string]any) string { return testkit.SignToken(t, "none", nil, nil, c) }
		}, 401, MsgIDToken},
		{"HS256 with the client secret", 0, func(t *testing.T, op *testOP) { op.sign = hmacSign(t) }, 401, MsgIDToken},
		{"HS256 listed by discovery", 0, func(t *testing.T, op *testOP) {
			op.discovery["id_token_signing_alg_values_supported"] = []string{"HS256", "ES256"}
			op.sign = hmacSign(t)
		}, 401, MsgIDToken},
		{"RS256 not listed by discovery", 0, func(t *testing.T, op *testOP) {
			op.discovery["id_token_signing_alg_values_supported"] = []string{"ES256"}
			op.alg, op.key, op.kid = "RS256", testkit.Keys()["rsa"], "r1"
			op.jwks = append(op.jwks, jose.JSONWebKey{Key: op.key.Public(), KeyID: "r1", Algorithm: "RS256", Use: "sig"})
		}, 401, MsgIDToken},
		{"RS256 listed", 0, func(t *testing.T, op *testOP) {
			op.alg, op.key, op.kid = "RS256", testkit.Keys()["rsa"], "r1"
			op.jwks = append(op.jwks, jose.JSONWebKey{Key: op.key.Public(), KeyID: "r1", Algorithm: "RS256", Use: "sig"})
		}, 0, ""},
		{"unknown kid", 0, func(t *testing.T, op *testOP) { op.key, op.kid = testkit.Keys()["p256b"], "k2" }, 401, MsgIDToken},
		{"known kid, another key", 0, func(t *testing.T, op *testOP) { op.key = testkit.Keys()["p256b"] }, 401, MsgIDToken},
		{"keys unreachable", 0, func(t *testing.T, op *testOP) { op.jwksStatus = 503 }, 502, MsgUnavailable},
		{"duplicate claims", 0, func(t *testing.T, op *testOP) {
			op.sign = func(c map[string]any) string {
				payload := testkit.MustJSON(t, c)
				// go-oidc reads sub as "admin" (the last, matched case-insensitively)
				payload = append(payload[:len(payload)-1], []byte(`,"SUB":"admin"}`)...)
				return testkit.SignRaw(t, "ES256", op.key, []byte(`{"alg":"ES256","kid":"k1"}`), payload)
			}
		}, 401, MsgIDToken},
		{"control character in a copied claim", 0, claimsEdit(func(c map[string]any) { c["name"] = "a\nb" }), 401, MsgIDToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.Leeway = c.leeway })
			e.op.set(func(op *testOP) { c.edit(t, op) })
			res, err := e.login(t)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if res.Identity != testSubject {
					t.Fatalf("identity %q", res.Identity)
				}
				return
			}
			fe := wantError(t, err, c.status, c.msg)
			if c.name == "duplicate claims" && !strings.Contains(fe.Cause.Error(), "unambiguous") {
				t.Fatalf("cause %v: the duplicate was not what refused the token", fe.Cause)
			}
			t.Logf("cause: %v", fe.Cause)
		})
	}
}

// claimsEdit edits the ID token's claims (times are int64 unix seconds).
func claimsEdit(f func(c map[string]any)) func(t *testing.T, op *testOP) {
	return func(t *testing.T, op *testOP) {
		op.claims = func(g *grant, c map[string]any) { f(c) }
	}
}

// An unknown kid makes the key set fetch the keys again: a rotation at
// the provider is followed.
func TestKeyRotationFollowed(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.login(t); err != nil {
		t.Fatal(err)
	}
	e.op.set(func(op *testOP) {
		op.key, op.kid = testkit.Keys()["p256b"], "k2"
		op.jwks = []jose.JSONWebKey{{Key: op.key.Public(), KeyID: "k2", Algorithm: "ES256", Use: "sig"}}
	})
	var before int
	e.op.read(func(op *testOP) { before = op.jwksHits })
	if _, err := e.login(t); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	e.op.read(func(op *testOP) {
		if op.jwksHits != before+1 {
			t.Fatalf("keys fetched %d times after the rotation, want 1", op.jwksHits-before)
		}
	})
}

func TestFreshness(t *testing.T) {
	for _, c := range []struct {
		name     string
		within   time.Duration
		authTime func(now time.Time) any // nil: no auth_time
		fresh    bool
	}{
		{"just now", 0, func(now time.Time) any { return now.Unix() }, true},
		{"4m59s ago", 0, func(now time.Time) any { return now.Add(-4*time.Minute - 59*time.Second).Unix() }, true},
		{"5m ago", 0, func(now time.Time) any { return now.Add(-5 * time.Minute).Unix() }, true},
		{"5m01s ago", 0, func(now time.Time) any { return now.Add(-5*time.Minute - time.Second).Unix() }, false},
		{"yesterday", 0, func(now time.Time) any { return now.Add(-24 * time.Hour).Unix() }, false},
		{"10m ago, fresh_within 15m", 15 * time.Minute, func(now time.Time) any { return now.Add(-10 * time.Minute).Unix() }, true},
		{"fractional", 0, func(now time.Time) any { return float64(now.Unix()) - 0.5 }, true},
		{"absent", 0, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.FreshWithin = c.within })
			e.op.set(func(op *testOP) {
				op.claims = func(g *grant, cl map[string]any) {
					if c.authTime == nil {
						delete(cl, "auth_time")
					} else {
						cl["auth_time"] = c.authTime(testStart)
					}
				}
			})
			res, err := e.login(t)
			if err != nil {
				t.Fatal(err)
			}
			if res.Fresh != c.fresh {
				t.Fatalf("fresh = %v, want %v (auth_time %v)", res.Fresh, c.fresh, res.AuthTime)
			}
			if c.authTime == nil && !res.AuthTime.IsZero() {
				t.Fatalf("auth_time %v without one in the ID token", res.AuthTime)
			}
		})
	}
}

func TestReauth(t *testing.T) {
	session := &Session{Identity: testSubject, Family: "fam-1"}
	for _, c := range []struct {
		name     string
		leeway   time.Duration
		authTime func(began time.Time) any // nil: none
		sub      string
		ok       bool
	}{
		{"authenticated after the reauth began", 0, func(b time.Time) any { return b.Add(20 * time.Second).Unix() }, testSubject, true},
		{"authenticated the second it began", 0, func(b time.Time) any { return b.Unix() }, testSubject, true},
		{"old auth_time: the provider reused its session", 0, func(b time.Time) any { return b.Add(-time.Second).Unix() }, testSubject, false},
		{"old auth_time within leeway", 5 * time.Second, func(b time.Time) any { return b.Add(-5 * time.Second).Unix() }, testSubject, true},
		{"old auth_time beyond leeway", 5 * time.Second, func(b time.Time) any { return b.Add(-6 * time.Second).Unix() }, testSubject, false},
		{"no auth_time", 0, nil, testSubject, false},
		{"another identity", 0, func(b time.Time) any { return b.Add(20 * time.Second).Unix() }, "user-2", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.Leeway = c.leeway })
			began := e.clock.Now()
			e.op.set(func(op *testOP) {
				op.claims = func(g *grant, cl map[string]any) {
					cl["sub"] = c.sub
					if c.authTime == nil {
						delete(cl, "auth_time")
					} else {
						cl["auth_time"] = c.authTime(began)
					}
				}
				op.userinfo = func(g *grant) map[string]any { return map[string]any{"sub": c.sub, "name": "U"} }
			})
			authURL, sealed, err := e.flow.Begin(context.Background(), testCallback, "/admin", session)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(authURL)
			if u.Query().Get("prompt") != "login" || u.Query().Get("max_age") != "0" {
				t.Fatalf("reauth request without prompt=login and max_age=0: %v", u.Query())
			}
			q := e.op.authorize(t, authURL)
			e.clock.Advance(30 * time.Second)
			res, err := finish(t, e.flow, q, sealed)
			if !c.ok {
				wantError(t, err, http.StatusUnauthorized, MsgReauth)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Reauth == nil || *res.Reauth != *session || res.ReturnTo != "/admin" || !res.Fresh {
				t.Fatalf("result %+v (reauth %+v)", res, res.Reauth)
			}
		})
	}
	t.Run("a login has no session", func(t *testing.T) {
		e := newEnv(t, nil)
		res, err := e.login(t)
		if err != nil || res.Reauth != nil {
			t.Fatalf("login result %+v, %v", res, err)
		}
	})
	t.Run("Begin needs the identity", func(t *testing.T) {
		e := newEnv(t, nil)
		_, _, err := e.flow.Begin(context.Background(), testCallback, "/", &Session{Family: "f"})
		wantError(t, err, http.StatusInternalServerError, MsgInternal)
	})
}

func TestEmailIdentity(t *testing.T) {
	for _, c := range []struct {
		name     string
		id       func(c map[string]any)
		info     map[string]any // user info; nil: no userinfo endpoint
		identity string         // "": refused
	}{
		{"verified", func(c map[string]any) {}, nil, "user1@example.com"},
		{"verified as the string true", func(c map[string]any) { c["email_verified"] = "true" }, nil, "user1@example.com"},
		{"not verified", func(c map[string]any) { c["email_verified"] = false }, nil, ""},
		{"the string false", func(c map[string]any) { c["email_verified"] = "false" }, nil, ""},
		{"the string yes", func(c map[string]any) { c["email_verified"] = "yes" }, nil, ""},
		{"the number 1", func(c map[string]any) { c["email_verified"] = 1 }, nil, ""},
		{"email_verified missing", func(c map[string]any) { delete(c, "email_verified") }, nil, ""},
		{"email missing", func(c map[string]any) { delete(c, "email"); delete(c, "email_verified") }, nil, ""},
		{"email from the user info, verified", func(c map[string]any) { delete(c, "email"); delete(c, "email_verified") },
			map[string]any{"sub": testSubject, "email": "ui@example.com", "email_verified": true}, "ui@example.com"},
		{"email from the user info, verified only in the ID token", func(c map[string]any) { delete(c, "email") },
			map[string]any{"sub": testSubject, "email": "ui@example.com"}, ""},
		{"email from the user info, not verified", func(c map[string]any) { delete(c, "email"); delete(c, "email_verified") },
			map[string]any{"sub": testSubject, "email": "ui@example.com", "email_verified": false}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.IdentityClaim = "email"; cfg.Claims = nil })
			e.op.set(func(op *testOP) {
				op.claims = func(g *grant, cl map[string]any) { c.id(cl) }
				if c.info == nil {
					delete(op.discovery, "userinfo_endpoint")
				} else {
					op.userinfo = func(g *grant) map[string]any { return c.info }
				}
			})
			res, err := e.login(t)
			if c.identity == "" {
				wantError(t, err, http.StatusUnauthorized, MsgIdentity)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Identity != c.identity || res.Subject != testSubject {
				t.Fatalf("identity %q subject %q", res.Identity, res.Subject)
			}
		})
	}
	t.Run("another claim as identity", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.IdentityClaim = "preferred_username" })
		e.op.set(func(op *testOP) {
			op.claims = func(g *grant, cl map[string]any) { cl["preferred_username"] = "uone"; cl["email_verified"] = false }
		})
		res, err := e.login(t)
		if err != nil || res.Identity != "uone" {
			t.Fatalf("result %+v, %v", res, err)
		}
	})
	t.Run("identity not a string", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.IdentityClaim = "uid" })
		e.op.set(func(op *testOP) {
			op.claims = func(g *grant, cl map[string]any) { cl["uid"] = 42 }
		})
		_, err := e.login(t)
		wantError(t, err, http.StatusUnauthorized, MsgIdentity)
	})
}

func TestUserInfoClaims(t *testing.T) {
	t.Run("missing claims are filled in", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Claims = []string{"email", "name", "groups", "absent"} })
		res, err := e.login(t)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"email": "user1@example.com", "name": "User One", "groups": []any{"staff"}}
		if !reflect.DeepEqual(res.Claims, want) {
			t.Fatalf("claims %#v, want %#v", res.Claims, want)
		}
	})
	t.Run("the ID token's claim wins", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Claims = []string{"email", "name"} })
		e.op.set(func(op *testOP) {
			op.claims = func(g *grant, cl map[string]any) { cl["name"] = "From ID token" }
			op.userinfo = func(g *grant) map[string]any { return map[string]any{"sub": testSubject, "name": "x"} }
		})
		res, err := e.login(t)
		if err != nil || res.Claims["name"] != "From ID token" {
			t.Fatalf("claims %v, %v", res, err)
		}
		e.op.read(func(op *testOP) {
			if op.uiHits != 0 {
				t.Fatalf("user info fetched %d times with every claim in the ID token", op.uiHits)
			}
		})
	})
	t.Run("numbers stay numbers", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Claims = []string{"level"} })
		e.op.set(func(op *testOP) { op.claims = func(g *grant, cl map[string]any) { cl["level"] = 12345678901234567 } })
		res, err := e.login(t)
		if err != nil || res.Claims["level"] != json.Number("12345678901234567") {
			t.Fatalf("claims %#v, %v", res.Claims, err)
		}
	})
	t.Run("sub mismatch refused", func(t *testing.T) {
		e := newEnv(t, nil)
		e.op.set(func(op *testOP) {
			op.userinfo = func(g *grant) map[string]any { return map[string]any{"sub": "user-2", "name": "Someone Else"} }
		})
		_, err := e.login(t)
		wantError(t, err, http.StatusUnauthorized, MsgUserInfo)
	})
	t.Run("no sub refused", func(t *testing.T) {
		e := newEnv(t, nil)
		e.op.set(func(op *testOP) {
			op.userinfo = func(g *grant) map[string]any { return map[string]any{"name": "Someone"} }
		})
		_, err := e.login(t)
		wantError(t, err, http.StatusUnauthorized, MsgUserInfo)
	})
	t.Run("no userinfo endpoint", func(t *testing.T) {
		e := newEnv(t, nil)
		e.op.set(func(op *testOP) { delete(op.discovery, "userinfo_endpoint") })
		res, err := e.login(t)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.Claims["name"]; ok || res.Claims["email"] != "user1@example.com" {
			t.Fatalf("claims %v", res.Claims)
		}
	})
	t.Run("user info failing", func(t *testing.T) {
		e := newEnv(t, nil)
		e.op.set(func(op *testOP) { op.uiStatus = 500 })
		_, err := e.login(t)
		wantError(t, err, http.StatusBadGateway, MsgUnavailable)
	})
}

func TestBeginErrors(t *testing.T) {
	e := newEnv(t, nil)
	_, _, err := e.flow.Begin(context.Background(), testCallback, "/"+strings.Repeat("a", 3500), nil)
	wantError(t, err, http.StatusBadRequest, MsgTooLarge)
	for _, cb := range []string{"", "/callback", "https://app.example.com/cb#x", "ftp://app.example.com/cb", "https://u:p@app.example.com/cb"} {
		_, _, err := e.flow.Begin(context.Background(), cb, "/", nil)
		wantError(t, err, http.StatusInternalServerError, MsgInternal)
	}
}

func TestNewValidates(t *testing.T) {
	s, _ := NewSealer(testKey)
	once := NewStorageOnce(testkit.NewStorage(t, t.TempDir(), "a"), "p", nil)
	base := Config{Name: "corp", Issuer: "https://id.example.com", ClientID: "c"}
	f, err := New(base, s, once)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Config()
	if !reflect.DeepEqual(got.Scopes, []string{"openid", "email", "profile"}) || got.IdentityClaim != "sub" || got.FreshWithin != 5*time.Minute || got.TxTTL != 10*time.Minute || got.HTTPClient.Timeout != 10*time.Second || got.Now == nil {
		t.Fatalf("defaults: %+v", got)
	}
	f, _ = New(Config{Name: "corp", Issuer: "https://id.example.com", ClientID: "c", Scopes: []string{"email", "groups", "email"}}, s, once)
	if got := f.Config().Scopes; !reflect.DeepEqual(got, []string{"openid", "email", "groups"}) {
		t.Fatalf("scopes %v: openid must be added once, duplicates dropped", got)
	}
	for name, edit := range map[string]func(c *Config){
		"no name":             func(c *Config) { c.Name = "" },
		"name with a dot":     func(c *Config) { c.Name = "a.b" },
		"name with a space":   func(c *Config) { c.Name = "a b" },
		"long name":           func(c *Config) { c.Name = strings.Repeat("a", 65) },
		"no issuer":           func(c *Config) { c.Issuer = "" },
		"issuer not a URL":    func(c *Config) { c.Issuer = "id.example.com" },
		"issuer with query":   func(c *Config) { c.Issuer = "https://id.example.com/?a=b" },
		"issuer ftp":          func(c *Config) { c.Issuer = "ftp://id.example.com" },
		"no client_id":        func(c *Config) { c.ClientID = "" },
		"bad scope":           func(c *Config) { c.Scopes = []string{"a b"} },
		"empty claim":         func(c *Config) { c.Claims = []string{""} },
		"claim twice":         func(c *Config) { c.Claims = []string{"a", "a"} },
		"negative leeway":     func(c *Config) { c.Leeway = -time.Second },
		"negative ttl":        func(c *Config) { c.TxTTL = -time.Second },
		"negative freshness":  func(c *Config) { c.FreshWithin = -time.Second },
		"client without time": func(c *Config) { c.HTTPClient = &http.Client{} },
	} {
		c := base
		edit(&c)
		if _, err := New(c, s, once); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(base, nil, once); err == nil {
		t.Error("no sealer: accepted")
	}
	if _, err := New(base, s, nil); err == nil {
		t.Error("no once: accepted")
	}
}

// Bodies from the provider are bounded.
func TestResponseBodyBounded(t *testing.T) {
	e := newEnv(t, nil)
	e.op.set(func(op *testOP) { op.discovery["padding"] = strings.Repeat("x", maxResponseBody) })
	_, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil)
	fe := wantError(t, err, http.StatusBadGateway, MsgUnavailable)
	if !strings.Contains(fe.Cause.Error(), "1 MiB") {
		t.Fatalf("cause %v", fe.Cause)
	}
}
