package jwtextended

// Claim checks that need their own app configuration: iss and aud, leeway.

import (
	"net/http"
	"strconv"
	"testing"
)

// TestSecurityIssuerAudience: wrong or missing iss and aud.
func TestSecurityIssuerAudience(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","issuer":"https://auth.example","audience":["api","admin-api"]}`)), withUpstream(http.StatusOK, "upstream"))
	good := map[string]any{"iss": "https://auth.example", "aud": "api"}
	with := func(over map[string]any) string {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range over {
			c[k] = v
		}
		return fx.token(secClaims(c))
	}
	refuse := func(name, tok, msg string) secCase {
		return secCase{name: name, req: secBearer(tok), status: 401, msg: msg}
	}
	secRun(t, fx, []secCase{
		{name: "control/iss_and_aud", req: secBearer(with(nil)), status: 200, identity: "alice"},
		{name: "control/aud_array_one_matches", req: secBearer(with(map[string]any{"aud": []string{"other", "admin-api"}})), status: 200, identity: "alice"},
		refuse("iss/missing", with(map[string]any{"iss": nil}), `Token is missing the "iss" claim`),
		refuse("iss/wrong", with(map[string]any{"iss": "https://evil.example"}), "Invalid issuer"),
		refuse("iss/prefix", with(map[string]any{"iss": "https://auth.example.evil"}), "Invalid issuer"),
		refuse("iss/case_variant", with(map[string]any{"iss": "https://AUTH.example"}), "Invalid issuer"),
		refuse("iss/array", with(map[string]any{"iss": []string{"https://auth.example"}}), "Invalid issuer"),
		refuse("iss/null", fx.raw(secHeaderHS256, `{"sub":"alice","iss":null,"aud":"api","exp":`+strconv.FormatInt(secNow.Unix()+60, 10)+`}`), "Invalid issuer"),
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
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","leeway":"60s"}`)), withUpstream(http.StatusOK, "upstream"))
	now := secNow.Unix()
	tok := func(over map[string]any) *http.Request { return secBearer(fx.token(secClaims(over))) }
	secRun(t, fx, []secCase{
		{name: "control/nbf_future_within_leeway", req: tok(map[string]any{"nbf": now + 59}), status: 200, identity: "alice"},
		{name: "control/iat_future_within_leeway", req: tok(map[string]any{"iat": now + 59}), status: 200, identity: "alice"},
		{name: "control/expired_within_leeway", req: tok(map[string]any{"exp": now - 59}), status: 200, identity: "alice"},
		{name: "nbf_future_beyond_leeway", req: tok(map[string]any{"nbf": now + 61}), status: 401, msg: "The token is not yet valid (nbf)"},
		{name: "iat_future_beyond_leeway", req: tok(map[string]any{"iat": now + 61}), status: 401, msg: "The token is not yet valid (iat)"},
		{name: "expired_beyond_leeway", req: tok(map[string]any{"exp": now - 61}), status: 401, msg: "Token has expired"},
	})
}

// TestSecurityClaimAttacks covers the claim checks on a properly signed
// token that need only the HMAC configuration of the app: typed claims,
// freshness, time claims without leeway, an unexpected aud, control
// characters and the token type. (These were TestSecurityAttacks's until
// it was split by unit.)
func TestSecurityClaimAttacks(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	valid := fx.token(secClaims(nil))
	now := secNow.Unix()
	exp := strconv.FormatInt(now+900, 10)

	var cases []secCase
	add := func(c ...secCase) { cases = append(cases, c...) }
	refuse := func(name, tok, msg string) secCase {
		return secCase{name: name, req: secBearer(tok), status: 401, msg: msg}
	}

	add(secCase{name: "control/valid_hs256", req: secBearer(valid), status: 200, identity: "alice"})

	// Typed claims: registered times must be numbers.
	add(refuse("typed/exp_string", fx.token(secClaims(map[string]any{"exp": strconv.FormatInt(now+900, 10)})), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_null", fx.raw(secHeaderHS256, `{"sub":"alice","exp":null}`), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_bool", fx.token(secClaims(map[string]any{"exp": true})), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_array", fx.token(secClaims(map[string]any{"exp": []int64{now + 900}})), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_huge_exponent", fx.raw(secHeaderHS256, `{"sub":"alice","exp":1e999}`), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/nbf_string", fx.token(secClaims(map[string]any{"nbf": "0"})), "Not Before claim (nbf) must be a number"))
	add(refuse("typed/iat_object", fx.token(secClaims(map[string]any{"iat": map[string]any{}})), "Issued At claim (iat) must be a number"))
	add(refuse("typed/type_number", fx.token(secClaims(map[string]any{"type": 1})), "Invalid token type"))
	add(refuse("typed/type_unknown", fx.token(secClaims(map[string]any{"type": "admin"})), "Invalid token type"))
	add(refuse("typed/type_null", fx.raw(secHeaderHS256, `{"sub":"alice","type":null,"exp":`+exp+`}`), "Invalid token type"))
	add(refuse("typed/type_upper_case_value", fx.token(secClaims(map[string]any{"type": "ACCESS"})), "Invalid token type"))
	add(refuse("typed/jti_number", fx.token(secClaims(map[string]any{"jti": 7})), "Invalid jti claim"))
	add(refuse("typed/sub_object", fx.token(secClaims(map[string]any{"sub": map[string]any{"name": "admin"}})), "Identity claim must be a string or a number"))
	add(refuse("typed/sub_bool", fx.token(secClaims(map[string]any{"sub": true})), "Identity claim must be a string or a number"))
	add(refuse("typed/sub_empty", fx.token(secClaims(map[string]any{"sub": ""})), "Identity claim must not be empty"))
	add(refuse("typed/sub_missing", fx.token(secClaims(map[string]any{"sub": nil})), "Missing identity claim"))

	// fresh: only a JSON true, or a number not in the past, is fresh.
	fresh := Auth{FreshRequired: true}
	add(secCase{name: "control/fresh_true", auth: fresh, req: secBearer(fx.token(secClaims(nil))), status: 200, identity: "alice"})
	add(secCase{name: "control/fresh_until_future", auth: fresh, req: secBearer(fx.token(secClaims(map[string]any{"fresh": now + 60}))), status: 200, identity: "alice"})
	for _, v := range []struct {
		name string
		val  any
	}{
		{"string_true", "true"}, {"one", 1}, {"array_true", []bool{true}}, {"object", map[string]any{}},
		{"false", false}, {"until_past", now - 1}, {"string_future_time", strconv.FormatInt(now+60, 10)},
	} {
		add(secCase{name: "typed/fresh_" + v.name, auth: fresh, req: secBearer(fx.token(secClaims(map[string]any{"fresh": v.val}))), status: 401, msg: "Fresh token required"})
	}
	add(secCase{name: "typed/fresh_null", auth: fresh, req: secBearer(fx.raw(secHeaderHS256, `{"sub":"alice","type":"access","fresh":null,"exp":`+exp+`}`)), status: 401, msg: "Fresh token required"})
	add(secCase{name: "typed/fresh_missing", auth: fresh, req: secBearer(fx.token(secClaims(map[string]any{"fresh": nil}))), status: 401, msg: "Fresh token required"})

	// Time claims without leeway.
	add(refuse("time/nbf_future", fx.token(secClaims(map[string]any{"nbf": now + 30})), "The token is not yet valid (nbf)"))
	add(refuse("time/iat_future", fx.token(secClaims(map[string]any{"iat": now + 30})), "The token is not yet valid (iat)"))
	add(refuse("time/nbf_future_fraction", fx.token(secClaims(map[string]any{"nbf": float64(now) + 0.5})), "The token is not yet valid (nbf)"))
	add(refuse("time/expired", fx.token(secClaims(map[string]any{"exp": now - 1})), "Token has expired"))
	add(refuse("time/expires_now", fx.token(secClaims(map[string]any{"exp": now})), "Token has expired"))
	add(refuse("time/exp_zero", fx.token(secClaims(map[string]any{"exp": 0})), "Token has expired"))
	add(refuse("time/exp_negative", fx.token(secClaims(map[string]any{"exp": -1})), "Token has expired"))
	add(refuse("time/missing_exp", fx.token(secClaims(map[string]any{"exp": nil})), `Token is missing the "exp" claim`))
	add(secCase{name: "control/no_nbf_no_iat", req: secBearer(fx.token(secClaims(map[string]any{"nbf": nil, "iat": nil}))), status: 200, identity: "alice"})

	// Audience: a verifier that is not configured with one refuses a
	// token meant for an audience.
	add(refuse("aud/present_but_not_configured", fx.token(secClaims(map[string]any{"aud": "api"})), "Invalid audience"))
	add(secCase{name: "control/iss_not_checked_when_not_configured", req: secBearer(fx.token(secClaims(map[string]any{"iss": "https://other.example"}))), status: 200, identity: "alice"})

	// Control characters in claims, spelled as JSON escapes (raw ones are
	// not valid JSON). Each could split a header or a log line downstream.
	for _, v := range []struct{ name, payload string }{
		{"cr_lf_in_sub", `{"sub":"alice\r\nX-Jwt-Identity: admin","exp":` + exp + `}`},
		{"lf_in_sub", `{"sub":"alice\nadmin","exp":` + exp + `}`},
		{"cr_in_sub", `{"sub":"alice\radmin","exp":` + exp + `}`},
		{"nul_in_sub", `{"sub":"alice\u0000admin","exp":` + exp + `}`},
		{"del_in_sub", `{"sub":"alice\u007fadmin","exp":` + exp + `}`},
		{"tab_in_jti", `{"sub":"alice","jti":"a\tb","exp":` + exp + `}`},
		{"lf_in_custom_claim", `{"sub":"alice","role":"user\nadmin","exp":` + exp + `}`},
		{"lf_in_nested_claim", `{"sub":"alice","ctx":{"a":["x","y\n"]},"exp":` + exp + `}`},
		{"lf_in_claim_name", `{"sub":"alice","ro\nle":"admin","exp":` + exp + `}`},
		{"escaped_unicode_newline", `{"sub":"alice\u000aadmin","exp":` + exp + `}`},
	} {
		add(refuse("control_chars/"+v.name, fx.raw(secHeaderHS256, v.payload), "Claims must not contain control characters"))
	}
	add(refuse("control_chars/raw_newline_is_invalid_json", fx.raw(secHeaderHS256, "{\"sub\":\"alice\nadmin\",\"exp\":"+exp+"}"), "Invalid payload"))

	// Token types.
	add(refuse("type/refresh_on_access_route", fx.token(secClaims(map[string]any{"type": "refresh", "fresh": false})), "Only non-refresh tokens are allowed"))
	add(secCase{name: "type/access_on_refresh_route", auth: Auth{TokenType: "refresh"}, req: secBearer(valid), status: 401, msg: "Only refresh tokens are allowed"})
	add(secCase{name: "control/no_type_is_access", req: secBearer(fx.token(secClaims(map[string]any{"type": nil}))), status: 200, identity: "alice"})

	secRun(t, fx, cases)
}
