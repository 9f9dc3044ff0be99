package jwtextended

// Claim checks that need their own app configuration: iss and aud, leeway.

import (
	"net/http"
	"strconv"
	"testing"
)

// TestSecurityIssuerAudience: wrong or missing iss and aud.
func TestSecurityIssuerAudience(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","issuer":"https://auth.example","audience":["api","admin-api"]}`)
	good := map[string]any{"iss": "https://auth.example", "aud": "api"}
	with := func(over map[string]any) string {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range over {
			c[k] = v
		}
		return secToken(t, c)
	}
	refuse := func(name, tok, msg string) secCase {
		return secCase{name: name, req: secBearer(tok), status: 401, msg: msg}
	}
	secRun(t, []secCase{
		{name: "control/iss_and_aud", req: secBearer(with(nil)), status: 200, identity: "alice"},
		{name: "control/aud_array_one_matches", req: secBearer(with(map[string]any{"aud": []string{"other", "admin-api"}})), status: 200, identity: "alice"},
		refuse("iss/missing", with(map[string]any{"iss": nil}), `Token is missing the "iss" claim`),
		refuse("iss/wrong", with(map[string]any{"iss": "https://evil.example"}), "Invalid issuer"),
		refuse("iss/prefix", with(map[string]any{"iss": "https://auth.example.evil"}), "Invalid issuer"),
		refuse("iss/case_variant", with(map[string]any{"iss": "https://AUTH.example"}), "Invalid issuer"),
		refuse("iss/array", with(map[string]any{"iss": []string{"https://auth.example"}}), "Invalid issuer"),
		refuse("iss/null", secHS256(t, secHeaderHS256, `{"sub":"alice","iss":null,"aud":"api","exp":`+strconv.FormatInt(secNow.Unix()+60, 10)+`}`), "Invalid issuer"),
		refuse("aud/missing", with(map[string]any{"aud": nil}), `Token is missing the "aud" claim`),
		refuse("aud/wrong", with(map[string]any{"aud": "other"}), "Invalid audience"),
		refuse("aud/array_none_matches", with(map[string]any{"aud": []string{"x", "y"}}), "Invalid audience"),
		refuse("aud/empty_array", with(map[string]any{"aud": []string{}}), "Invalid audience"),
		refuse("aud/number", with(map[string]any{"aud": 1}), "Invalid audience"),
		refuse("aud/nested_array", with(map[string]any{"aud": []any{[]string{"api"}}}), "Invalid audience"),
		refuse("aud/case_variant", with(map[string]any{"aud": "API"}), "Invalid audience"),
	})
}

// TestSecurityLeeway: nbf and iat in the future, and exp in the past,
// inside and outside a leeway of 60s.
func TestSecurityLeeway(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","leeway":"60s"}`)
	now := secNow.Unix()
	tok := func(over map[string]any) *http.Request { return secBearer(secToken(t, over)) }
	secRun(t, []secCase{
		{name: "control/nbf_future_within_leeway", req: tok(map[string]any{"nbf": now + 59}), status: 200, identity: "alice"},
		{name: "control/iat_future_within_leeway", req: tok(map[string]any{"iat": now + 59}), status: 200, identity: "alice"},
		{name: "control/expired_within_leeway", req: tok(map[string]any{"exp": now - 59}), status: 200, identity: "alice"},
		{name: "nbf_future_beyond_leeway", req: tok(map[string]any{"nbf": now + 61}), status: 401, msg: "The token is not yet valid (nbf)"},
		{name: "iat_future_beyond_leeway", req: tok(map[string]any{"iat": now + 61}), status: 401, msg: "The token is not yet valid (iat)"},
		{name: "expired_beyond_leeway", req: tok(map[string]any{"exp": now - 61}), status: 401, msg: "Token has expired"},
	})
}
