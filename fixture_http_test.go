package jwtextended

// Requests and response checks shared by the unit tests (fixture_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// jsonPost is a POST of body as application/json.
func jsonPost(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// formPost is a POST of v as a form.
func formPost(path string, v url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// creds is a login body.
func creds(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return string(b)
}

// withBearer sets Authorization: Bearer tok on r and returns r.
func withBearer(r *http.Request, tok string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// bearerGet is a GET of http://example.com/api with Authorization: Bearer tok.
func bearerGet(tok string) *http.Request {
	return withBearer(httptest.NewRequest(http.MethodGet, "http://example.com/api", nil), tok)
}

// withVar returns r with the Caddy var key set to v, as Caddy's server
// sets vars (caddyhttp.TrustedProxyVarKey, ...); f.serve keeps it.
func withVar(r *http.Request, key string, v any) *http.Request {
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	merged := map[string]any{key: v}
	for k, x := range vars {
		if k != key {
			merged[k] = x
		}
	}
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, merged))
}

// apiGet is a GET of http://example.com/api with the given headers (name,
// value, ...; names canonicalized as Header.Add does).
func apiGet(kv ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/api", nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

// apiPost is a POST of body to http://example.com/api with Content-Type ct
// (none if "").
func apiPost(ct, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://example.com/api", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

// strPtr is &s.
func strPtr(s string) *string { return &s }

// wantPassed checks that a request reached the next handler as identity
// (X-Jwt-Identity).
func wantPassed(t testing.TB, res *served, identity string) {
	t.Helper()
	if !res.next.called || res.next.header.Get("X-Jwt-Identity") != identity {
		t.Fatalf("want passed as %q; got next=%v, %d %s", identity, res.next.called, res.rec.Code, res.rec.Body)
	}
}

// bodyJSON decodes a JSON object response body, numbers as json.Number.
func bodyJSON(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return m
}

// wantMsg checks a refusal: status, JSON content type and msg.
func wantMsg(t testing.TB, w *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %s)", w.Code, status, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if got := bodyJSON(t, w)["msg"]; got != msg {
		t.Errorf("msg %q, want %q", got, msg)
	}
}

// jsonNum is a json.Number that must be an integer.
func jsonNum(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return i
}

// uuidV4 matches a random UUID.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// cookiesOf indexes a response's Set-Cookie by name.
func cookiesOf(w *httptest.ResponseRecorder) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		out[c.Name] = c
	}
	return out
}

// refusalBody is the exact refusal body {"msg": msg}: JSON without HTML
// escaping.
func refusalBody(msg string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"msg": msg})
	return strings.TrimSuffix(buf.String(), "\n")
}

// The challenges of jwt_auth's refusals.
const (
	challengeNoToken  = "Bearer"
	challengeBadToken = `Bearer error="invalid_token"`
	// challengeStepUp is RFC 9470's, for a token that verifies but is not
	// fresh enough, on a jwt_auth without max_age or acr.
	challengeStepUp = `Bearer error="insufficient_user_authentication", error_description="Fresh token required"`
)

// wantRefused checks a refusal written by jwt_auth: status, exact body,
// Content-Type, the challenge, and that the next handler was not called.
// challenge "" means no WWW-Authenticate header (403).
func wantRefused(t testing.TB, res *served, status int, msg, challenge string) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("ServeHTTP returned error %v; want a written refusal", res.err)
	}
	if res.next.called {
		t.Errorf("next handler was called on a refused request")
	}
	if res.rec.Code != status {
		t.Errorf("status = %d, want %d", res.rec.Code, status)
	}
	if got, want := res.rec.Body.String(), refusalBody(msg); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if ct := res.rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); challenge == "" && len(got) != 0 {
		t.Errorf("WWW-Authenticate = %q, want none", got)
	} else if challenge != "" && (len(got) != 1 || got[0] != challenge) {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
}
