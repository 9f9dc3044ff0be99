package jwtextended

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// caddyfileTestErr checks that err names want and the Caddyfile line.
func caddyfileTestErr(t *testing.T, err error, want string, line int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if at := fmt.Sprintf("at Testfile:%d", line); !strings.Contains(err.Error(), at) {
		t.Errorf("error %q does not point at line %d", err, line)
	}
}

const argCount = "wrong argument count"

// caddyfileTestCase is one parser case: the resulting struct, or an error
// containing err at Caddyfile line line.
type caddyfileTestCase[T any] struct {
	name  string
	input string
	want  *T
	err   string
	line  int
}

// runCaddyfileCases parses each case's input with the handler's
// UnmarshalCaddyfile, and checks the error (its text and line) or the
// config it builds.
func runCaddyfileCases[T any, P interface {
	*T
	caddyfile.Unmarshaler
}](t *testing.T, tests []caddyfileTestCase[T]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := P(new(T))
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err != "" {
				caddyfileTestErr(t, err, tc.err, tc.line)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual((*T)(got), tc.want) {
				t.Errorf("got  %s\nwant %s", testkit.MustJSON(t, got), testkit.MustJSON(t, tc.want))
			}
		})
	}
}

func TestCaddyfileGlobalOption(t *testing.T) {
	t.Parallel()
	tests := []caddyfileTestCase[App]{
		{
			name:  "empty block",
			input: "jwt",
			want:  &App{},
		},
		{
			name: "every option",
			input: `jwt {
				secret {env.JWT_SECRET}
				algorithm HS512
				private_key /keys/signing.pem k1
				public_key /keys/old.pem
				public_key /keys/other.pem k0
				jwks_url https://idp.example/jwks.json
				jwks_url https://idp2.example/jwks.json
				jwks_refresh 10m
				issuer https://auth.example
				audience api web
				audience mobile
				leeway 30s
				access_ttl 15m
				refresh_ttl 30d
				fresh_for 90s
				identity_claim email
				token_from Cookie header QUERY
				revocation_sync 2s
				cache_size 500
			}`,
			want: &App{
				Secret:         "{env.JWT_SECRET}",
				Algorithm:      "HS512",
				PrivateKey:     &KeyFile{File: "/keys/signing.pem", KID: "k1"},
				PublicKeys:     []KeyFile{{File: "/keys/old.pem"}, {File: "/keys/other.pem", KID: "k0"}},
				JWKSURLs:       []string{"https://idp.example/jwks.json", "https://idp2.example/jwks.json"},
				JWKSRefresh:    weakDuration(10 * time.Minute),
				Issuer:         "https://auth.example",
				Audience:       []string{"api", "web", "mobile"},
				Leeway:         weakDuration(30 * time.Second),
				AccessTTL:      weakDuration(15 * time.Minute),
				RefreshTTL:     weakDuration(30 * 24 * time.Hour),
				FreshFor:       weakDuration(90 * time.Second),
				IdentityClaim:  "email",
				TokenLookup:    TokenLookup{TokenFrom: []string{"cookie", "header", "query"}},
				RevocationSync: weakDuration(2 * time.Second),
				CacheSize:      "500",
			},
		},
		{
			name: "placeholders in number and duration settings are kept as text",
			input: `jwt {
				leeway {env.LEEWAY}
				access_ttl {env.TTL}m
				refresh_ttl {env.REFRESH_TTL}
				fresh_for {env.FRESH}
				jwks_refresh {env.JWKS_REFRESH}
				revocation_sync {env.SYNC}
				cache_size {env.CACHE}
			}`,
			want: &App{
				Leeway: "{env.LEEWAY}", AccessTTL: "{env.TTL}m", RefreshTTL: "{env.REFRESH_TTL}", FreshFor: "{env.FRESH}",
				JWKSRefresh: "{env.JWKS_REFRESH}", RevocationSync: "{env.SYNC}", CacheSize: "{env.CACHE}",
			},
		},
		{name: "a lone brace is no placeholder", input: "jwt {\n\tleeway {5s\n}", err: "leeway: ", line: 2},
		{name: "cache_size 0 turns the cache off", input: "jwt {\n\tcache_size 0\n}", want: &App{CacheSize: "0"}},
		{name: "cache_size without value", input: "jwt {\n\tcache_size\n}", err: argCount, line: 2},
		{name: "cache_size with two values", input: "jwt {\n\tcache_size 1 2\n}", err: argCount, line: 2},
		{name: "cache_size not a number", input: "jwt {\n\tcache_size lots\n}", err: "cache_size must be a whole number, 0 to turn the cache off, not 'lots'", line: 2},
		{name: "cache_size negative", input: "jwt {\n\tcache_size -1\n}", err: "cache_size must be a whole number", line: 2},
		{name: "inline argument", input: "jwt foo {\n}", err: argCount, line: 1},
		{name: "unknown option", input: "jwt {\n\tsecrett x\n}", err: "unrecognized jwt option 'secrett'", line: 2},
		{name: "secret without value", input: "jwt {\n\tsecret\n}", err: "secret takes a key and an optional key id", line: 2},
		{name: "secret with three values", input: "jwt {\n\tsecret a b c\n}", err: "secret takes a key and an optional key id", line: 2},
		{name: "algorithm without value", input: "jwt {\n\talgorithm\n}", err: argCount, line: 2},
		{name: "algorithm with two values", input: "jwt {\n\talgorithm HS256 HS384\n}", err: argCount, line: 2},
		{name: "issuer without value", input: "jwt {\n\tissuer\n}", err: argCount, line: 2},
		{name: "identity_claim with two values", input: "jwt {\n\tidentity_claim sub email\n}", err: argCount, line: 2},
		{name: "private_key without args", input: "jwt {\n\tprivate_key\n}", err: "private_key takes a PEM file and an optional key id", line: 2},
		{name: "private_key with 3 args", input: "jwt {\n\tprivate_key a.pem k1 extra\n}", err: "private_key takes a PEM file and an optional key id", line: 2},
		{name: "private_key twice", input: "jwt {\n\tprivate_key a.pem\n\tprivate_key b.pem\n}", err: "private_key may appear only once", line: 3},
		{name: "public_key without args", input: "jwt {\n\tpublic_key\n}", err: "public_key takes a PEM file and an optional key id", line: 2},
		{name: "public_key with 3 args", input: "jwt {\n\tpublic_key a.pem k1 extra\n}", err: "public_key takes a PEM file", line: 2},
		{name: "jwks_url without value", input: "jwt {\n\tjwks_url\n}", err: argCount, line: 2},
		{name: "jwks_url with two values", input: "jwt {\n\tjwks_url https://a https://b\n}", err: argCount, line: 2},
		{name: "audience without value", input: "jwt {\n\taudience\n}", err: argCount, line: 2},
		{name: "token_from without value", input: "jwt {\n\ttoken_from\n}", err: argCount, line: 2},
		{name: "token_from bad word", input: "jwt {\n\ttoken_from header body\n}", err: `unknown token source "body"`, line: 2},
		{name: "token_from twice the same", input: "jwt {\n\ttoken_from header cookie HEADER\n}", err: "header is listed twice", line: 2},
	}
	for _, setting := range []string{"leeway", "access_ttl", "refresh_ttl", "fresh_for", "jwks_refresh", "revocation_sync"} {
		tests = append(tests,
			caddyfileTestCase[App]{name: setting + " without value", input: "jwt {\n\t" + setting + "\n}", err: argCount, line: 2},
			caddyfileTestCase[App]{name: setting + " with two values", input: "jwt {\n\t" + setting + " 1m 2m\n}", err: argCount, line: 2},
			caddyfileTestCase[App]{name: setting + " bad duration", input: "jwt {\n\t" + setting + " 10parsecs\n}", err: setting + ": ", line: 2},
			caddyfileTestCase[App]{name: setting + " negative", input: "jwt {\n\t" + setting + " -5s\n}", err: setting + " must not be negative", line: 2},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGlobalOption(caddyfile.NewTestDispenser(tc.input), nil)
			if tc.err != "" {
				caddyfileTestErr(t, err, tc.err, tc.line)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app, ok := got.(httpcaddyfile.App)
			if !ok || app.Name != "jwt" {
				t.Fatalf("got %#v, want httpcaddyfile.App named jwt", got)
			}
			var decoded App
			if err := json.Unmarshal(app.Value, &decoded); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&decoded, tc.want) {
				t.Errorf("got  %s\nwant %s", app.Value, testkit.MustJSON(t, tc.want))
			}
		})
	}

	t.Run("twice", func(t *testing.T) {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n}"), httpcaddyfile.App{Name: "jwt"})
		caddyfileTestErr(t, err, "the jwt global option may appear only once", 1)
	})
}

func TestCaddyfileAuthDirective(t *testing.T) {
	t.Parallel()
	tests := []caddyfileTestCase[Auth]{
		{name: "bare", input: "jwt_auth", want: &Auth{}},
		{name: "inline fresh_required", input: "jwt_auth fresh_required", want: &Auth{FreshRequired: true}},
		{name: "inline both", input: "jwt_auth optional fresh_required", want: &Auth{FreshRequired: true, Optional: true}},
		{
			name: "every subdirective",
			input: `jwt_auth {
				fresh_required
				optional
				token_type refresh
				require role admin ops
				require tenant acme
				token_from cookie Header
				verify_preflight
				handle_errors
			}`,
			want: &Auth{
				FreshRequired:   true,
				Optional:        true,
				TokenType:       "refresh",
				Require:         []ClaimRequirement{{Claim: "role", Values: []string{"admin", "ops"}}, {Claim: "tenant", Values: []string{"acme"}}},
				TokenLookup:     TokenLookup{TokenFrom: []string{"cookie", "header"}},
				VerifyPreflight: true,
				HandleErrors:    true,
			},
		},
		{name: "inline and block", input: "jwt_auth fresh_required {\n\ttoken_type any\n}", want: &Auth{FreshRequired: true, TokenType: "any"}},
		{name: "inline unknown word", input: "jwt_auth required", err: "unrecognized jwt_auth argument 'required'; expected fresh_required or optional", line: 1},
		{name: "unknown subdirective", input: "jwt_auth {\n\tfresh\n}", err: "unrecognized jwt_auth subdirective 'fresh'", line: 2},
		{name: "fresh_required with an argument", input: "jwt_auth {\n\tfresh_required yes\n}", err: argCount, line: 2},
		{name: "optional with an argument", input: "jwt_auth {\n\toptional true\n}", err: argCount, line: 2},
		{name: "verify_preflight with an argument", input: "jwt_auth {\n\tverify_preflight on\n}", err: argCount, line: 2},
		{name: "handle_errors with an argument", input: "jwt_auth {\n\thandle_errors 401\n}", err: argCount, line: 2},
		{name: "token_type without value", input: "jwt_auth {\n\ttoken_type\n}", err: argCount, line: 2},
		{name: "token_type with two values", input: "jwt_auth {\n\ttoken_type access refresh\n}", err: argCount, line: 2},
		{name: "bad token_type", input: "jwt_auth {\n\ttoken_type id\n}", err: "token_type must be access, refresh or any, not 'id'", line: 2},
		{name: "token_type is case-sensitive", input: "jwt_auth {\n\ttoken_type Access\n}", err: "token_type must be access, refresh or any", line: 2},
		{name: "require without args", input: "jwt_auth {\n\trequire\n}", err: "require takes a claim and at least one value", line: 2},
		{name: "require with a claim only", input: "jwt_auth {\n\trequire role\n}", err: "require takes a claim and at least one value", line: 2},
		{name: "token_from without value", input: "jwt_auth {\n\ttoken_from\n}", err: argCount, line: 2},
		{name: "token_from bad word", input: "jwt_auth {\n\ttoken_from bearer\n}", err: `unknown token source "bearer"`, line: 2},
		{name: "token_from duplicated", input: "jwt_auth {\n\ttoken_from query query\n}", err: "query is listed twice", line: 2},
		{name: "step-up", input: "jwt_auth {\n\tfresh_required\n\tmax_age 5m\n\tacr urn:example:mfa phr\n}",
			want: &Auth{FreshRequired: true, MaxAge: "300000000000", ACR: []string{"urn:example:mfa", "phr"}}},
		{name: "max_age placeholder", input: "jwt_auth {\n\tmax_age {env.MAX_AGE}\n}", want: &Auth{MaxAge: "{env.MAX_AGE}"}},
		{name: "max_age without value", input: "jwt_auth {\n\tmax_age\n}", err: argCount, line: 2},
		{name: "max_age with two values", input: "jwt_auth {\n\tmax_age 5m 10m\n}", err: argCount, line: 2},
		{name: "max_age not a duration", input: "jwt_auth {\n\tmax_age soon\n}", err: "max_age: ", line: 2},
		{name: "max_age 0", input: "jwt_auth {\n\tmax_age 0s\n}", err: "max_age must be a second or more", line: 2},
		{name: "max_age below a second", input: "jwt_auth {\n\tmax_age 500ms\n}", err: "max_age must be a second or more", line: 2},
		{name: "max_age negative", input: "jwt_auth {\n\tmax_age -5m\n}", err: "max_age must not be negative", line: 2},
		{name: "acr without value", input: "jwt_auth {\n\tacr\n}", err: argCount, line: 2},
		{name: "acr with a quote", input: "jwt_auth {\n\tacr `a\"b`\n}", err: `acr 'a"b' is not a valid value`, line: 2},
	}
	runCaddyfileCases(t, tests)
}

func TestCaddyfileIssueDirective(t *testing.T) {
	t.Parallel()
	const hash = "$2a$14$ajq8Q7fbtFRQvXpdCq7Jcuy.Rx1h/L4J60Otx.gyNLbAYctGMJ9tK"
	tests := []caddyfileTestCase[Issue]{
		{name: "bare", input: "jwt_issue", want: &Issue{}},
		{
			name: "every subdirective",
			input: `jwt_issue {
				login /auth/login
				refresh /auth/refresh
				reauth /auth/reauth
				logout /auth/logout
				jwks /.well-known/jwks.json
				user alice ` + hash + ` role=admin tenant=acme
				user bob ` + hash + `
				users_file /etc/caddy/users
				deliver json cookie
				token_from cookie header
			}`,
			want: &Issue{
				Login:   "/auth/login",
				Refresh: "/auth/refresh",
				Reauth:  "/auth/reauth",
				Logout:  "/auth/logout",
				JWKS:    "/.well-known/jwks.json",
				Users: []User{
					{Name: "alice", Hash: hash, Claims: map[string]any{"role": "admin", "tenant": "acme"}},
					{Name: "bob", Hash: hash},
				},
				UsersFile:   "/etc/caddy/users",
				Deliver:     []string{"json", "cookie"},
				TokenLookup: TokenLookup{TokenFrom: []string{"cookie", "header"}},
			},
		},
		{name: "claim value with =", input: "jwt_issue {\n\tuser a h note=x=y\n}", want: &Issue{Users: []User{{Name: "a", Hash: "h", Claims: map[string]any{"note": "x=y"}}}}},
		{name: "claim with empty value", input: "jwt_issue {\n\tuser a h note=\n}", want: &Issue{Users: []User{{Name: "a", Hash: "h", Claims: map[string]any{"note": ""}}}}},
		{name: "inline argument", input: "jwt_issue /login", err: argCount, line: 1},
		{name: "unknown subdirective", input: "jwt_issue {\n\tsignup /s\n}", err: "unrecognized jwt_issue subdirective 'signup'", line: 2},
		{name: "user without args", input: "jwt_issue {\n\tuser\n}", err: "user takes a name, a bcrypt hash and optional claims", line: 2},
		{name: "user without hash", input: "jwt_issue {\n\tuser alice\n}", err: "user takes a name, a bcrypt hash and optional claims", line: 2},
		{name: "user claim without =", input: "jwt_issue {\n\tuser alice h admin\n}", err: "user claim 'admin' must be written <claim>=<value>", line: 2},
		{name: "user claim without name", input: "jwt_issue {\n\tuser alice h =admin\n}", err: "user claim '=admin' must be written <claim>=<value>", line: 2},
		{name: "deliver without value", input: "jwt_issue {\n\tdeliver\n}", err: argCount, line: 2},
		{name: "deliver bad word", input: "jwt_issue {\n\tdeliver json header\n}", err: "deliver takes json and/or cookie, not 'header'", line: 2},
		{name: "token_from without value", input: "jwt_issue {\n\ttoken_from\n}", err: argCount, line: 2},
		{name: "token_from bad word", input: "jwt_issue {\n\ttoken_from form\n}", err: `unknown token source "form"`, line: 2},
		{name: "token_from duplicated", input: "jwt_issue {\n\ttoken_from cookie cookie\n}", err: "cookie is listed twice", line: 2},
	}
	throttleTests := []caddyfileTestCase[Issue]{
		{name: "throttle inline", input: "jwt_issue {\n\tthrottle 5 20 15m\n}", want: &Issue{Throttle: &ThrottleConfig{MaxPerUser: "5", MaxPerIP: "20", Window: weakDuration(15 * time.Minute)}}},
		{name: "throttle off", input: "jwt_issue {\n\tthrottle off\n}", want: &Issue{Throttle: &ThrottleConfig{Disabled: true}}},
		{
			name:  "throttle block",
			input: "jwt_issue {\n\tthrottle {\n\t\tmax_per_user 3\n\t\tmax_per_ip 30\n\t\twindow 1h\n\t\tcapacity 50000\n\t}\n\trotate_refresh\n}",
			want:  &Issue{Throttle: &ThrottleConfig{MaxPerUser: "3", MaxPerIP: "30", Window: weakDuration(time.Hour), Capacity: "50000"}, RotateRefresh: true},
		},
		{
			name:  "throttle inline with a block",
			input: "jwt_issue {\n\tthrottle 5 20 15m {\n\t\tcapacity 100\n\t}\n}",
			want:  &Issue{Throttle: &ThrottleConfig{MaxPerUser: "5", MaxPerIP: "20", Window: weakDuration(15 * time.Minute), Capacity: "100"}},
		},
		{
			name:  "throttle placeholders are kept as text",
			input: "jwt_issue {\n\tthrottle {env.U} {env.IP} {env.W} {\n\t\tcapacity {env.CAP}\n\t}\n}",
			want:  &Issue{Throttle: &ThrottleConfig{MaxPerUser: "{env.U}", MaxPerIP: "{env.IP}", Window: "{env.W}", Capacity: "{env.CAP}"}},
		},
		{name: "throttle bare", input: "jwt_issue {\n\tthrottle\n}", err: "throttle takes <max_per_user> <max_per_ip> <window>", line: 2},
		{name: "throttle empty block", input: "jwt_issue {\n\tthrottle {\n\t}\n}", err: "throttle takes", line: 3},
		{name: "throttle two args", input: "jwt_issue {\n\tthrottle 3 10\n}", err: "throttle takes", line: 2},
		{name: "throttle four args", input: "jwt_issue {\n\tthrottle 3 10 1m 5\n}", err: "throttle takes", line: 2},
		{name: "throttle off with a block", input: "jwt_issue {\n\tthrottle off {\n\t\tcapacity 5\n\t}\n}", err: "throttle off takes no block", line: 3},
		{name: "throttle inline zero", input: "jwt_issue {\n\tthrottle 0 10 1m\n}", err: "throttle: max_per_user takes positive whole numbers only, not '0'", line: 2},
		{name: "throttle inline per ip", input: "jwt_issue {\n\tthrottle 1 many 1m\n}", err: "throttle: max_per_ip takes positive whole numbers only, not 'many'", line: 2},
		{name: "throttle inline window", input: "jwt_issue {\n\tthrottle 1 10 soon\n}", err: "throttle: window 'soon' must be a positive duration such as 15m", line: 2},
		{name: "throttle block zero window", input: "jwt_issue {\n\tthrottle {\n\t\twindow 0s\n\t}\n}", err: "throttle: window '0s' must be a positive duration", line: 3},
		{name: "throttle block capacity", input: "jwt_issue {\n\tthrottle {\n\t\tcapacity -1\n\t}\n}", err: "throttle: capacity takes positive whole numbers only, not '-1'", line: 3},
		{name: "throttle block without value", input: "jwt_issue {\n\tthrottle {\n\t\tmax_per_ip\n\t}\n}", err: argCount, line: 3},
		{name: "throttle block with two values", input: "jwt_issue {\n\tthrottle {\n\t\tmax_per_user 1 2\n\t}\n}", err: argCount, line: 3},
		{name: "throttle block unknown", input: "jwt_issue {\n\tthrottle {\n\t\tdisabled\n\t}\n}", err: "unrecognized throttle setting 'disabled'", line: 3},
		{name: "rotate_refresh with an argument", input: "jwt_issue {\n\trotate_refresh yes\n}", err: argCount, line: 2},
	}
	tests = append(tests, throttleTests...)
	for _, setting := range []string{"jwks", "users_file"} {
		tests = append(tests,
			caddyfileTestCase[Issue]{name: setting + " without value", input: "jwt_issue {\n\t" + setting + "\n}", err: argCount, line: 2},
			caddyfileTestCase[Issue]{name: setting + " with two values", input: "jwt_issue {\n\t" + setting + " /a /b\n}", err: argCount, line: 2},
		)
	}
	// routes take a path and one optional word: upstream, or all for logout
	for setting, word := range map[string]string{"login": "upstream", "refresh": "upstream", "reauth": "upstream", "logout": "all"} {
		want := setting + " <path> [" + word + "]"
		tests = append(tests,
			caddyfileTestCase[Issue]{name: setting + " without value", input: "jwt_issue {\n\t" + setting + "\n}", err: want, line: 2},
			caddyfileTestCase[Issue]{name: setting + " with two paths", input: "jwt_issue {\n\t" + setting + " /a /b\n}", err: want, line: 2},
			caddyfileTestCase[Issue]{name: setting + " with three values", input: "jwt_issue {\n\t" + setting + " /a " + word + " x\n}", err: want, line: 2},
		)
	}
	runCaddyfileCases(t, tests)
}
