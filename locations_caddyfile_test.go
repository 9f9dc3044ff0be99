package jwtextended

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestCaddyfileTokenLocations: the token-location words and message_key
// in the jwt global option, jwt_auth and jwt_issue, and their refusals.
func TestCaddyfileTokenLocations(t *testing.T) {
	t.Parallel()
	v, err := parseGlobalOption(caddyfile.NewTestDispenser(`jwt {
		token_from header json
		header_name X-Auth
		header_type ""
		query_param token
		json_key jwt
		refresh_json_key rt
		message_key error
	}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var app App
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
		t.Fatal(err)
	}
	if app.HeaderName != "X-Auth" || app.HeaderType == nil || *app.HeaderType != "" || app.QueryParam != "token" ||
		app.JSONKey != "jwt" || app.RefreshJSONKey != "rt" || app.MessageKey != "error" || strings.Join(app.TokenFrom, " ") != "header json" {
		t.Fatalf("app %+v", app)
	}

	var a Auth
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n\theader_name X-Auth\n\theader_type Token\n\tquery_param t\n\tjson_key k\n\trefresh_json_key rk\n\ttoken_from JSON\n}")); err != nil {
		t.Fatal(err)
	}
	if a.HeaderName != "X-Auth" || *a.HeaderType != "Token" || a.QueryParam != "t" || a.JSONKey != "k" || a.RefreshJSONKey != "rk" || a.TokenFrom[0] != "json" {
		t.Fatalf("jwt_auth %+v", a)
	}
	var i Issue
	if err := i.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_issue {\n\theader_name X-Auth\n\theader_type Token\n\tquery_param t\n\tjson_key k\n\trefresh_json_key rk\n}")); err != nil {
		t.Fatal(err)
	}
	if i.HeaderName != "X-Auth" || *i.HeaderType != "Token" || i.QueryParam != "t" || i.JSONKey != "k" || i.RefreshJSONKey != "rk" {
		t.Fatalf("jwt_issue %+v", i)
	}

	for _, tc := range []struct{ input, err string }{
		{"jwt {\n\theader_name\n}", "wrong argument count"},
		{"jwt {\n\theader_name \"X Auth\"\n}", `header_name "X Auth" is not a valid header name`},
		{"jwt {\n\theader_type \"Bearer x\"\n}", `header_type "Bearer x" must be one word`},
		{"jwt {\n\theader_type Bearer x\n}", "wrong argument count"},
		{"jwt {\n\tquery_param \"\"\n}", "query_param must not be empty"},
		{"jwt {\n\tjson_key \"\"\n}", "json_key must not be empty"},
		{"jwt {\n\tmessage_key \"\"\n}", "message_key must not be empty"},
		{"jwt {\n\ttoken_from header body\n}", `use header, cookie, query or json`},
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser(tc.input), nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "Testfile:2") {
			t.Errorf("%q: err %v, want one with %q at line 2", tc.input, err, tc.err)
		}
	}
	if err := new(Auth).UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n\tmessage_key error\n}")); err == nil {
		t.Error("message_key is the app's only, yet jwt_auth took it")
	}
}
