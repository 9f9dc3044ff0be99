package jwtextended

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// The Caddyfile errors of issue 19's settings, each with its line: the
// jwt option's cors block, jwt_strip and jwt_issue's failed_status.
func TestCaddyfileBoundaryErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, input, want string
		line              int
	}{
		{"cors with an argument", "jwt {\n\tcors x {\n\t}\n}", "cors takes a block of settings only", 2},
		{"cors without origins", "jwt {\n\tcors {\n\t\tcredentials\n\t}\n}", "cors needs the origins it allows", 4},
		{"cors unknown setting", "jwt {\n\tcors {\n\t\torigin https://a.example\n\t}\n}", "unrecognized cors setting 'origin'", 3},
		{"cors setting twice", "jwt {\n\tcors {\n\t\torigins https://a.example\n\t\torigins https://b.example\n\t}\n}", "cors: origins may appear only once", 4},
		{"cors origins without value", "jwt {\n\tcors {\n\t\torigins\n\t}\n}", argCount, 3},
		{"cors credentials with a value", "jwt {\n\tcors {\n\t\torigins https://a.example\n\t\tcredentials yes\n\t}\n}", argCount, 4},
		{"cors max_age not a duration", "jwt {\n\tcors {\n\t\torigins https://a.example\n\t\tmax_age soon\n\t}\n}", "max_age: ", 4},
		{"cors twice", "jwt {\n\tcors {\n\t\torigins https://a.example\n\t}\n\tcors {\n\t\torigins https://a.example\n\t}\n}", "the cors block may appear only once", 5},
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser(c.input), nil)
		t.Run(c.name, func(t *testing.T) { caddyfileTestErr(t, err, c.want, c.line) })
	}
	for _, c := range []struct {
		name, input, want string
		line              int
	}{
		{"failed_status without value", "jwt_issue {\n\tfailed_status\n}", argCount, 2},
		{"failed_status not a status", "jwt_issue {\n\tfailed_status 401 nope\n}", "failed_status takes HTTP statuses such as 401 403, not 'nope'", 2},
		{"failed_status out of range", "jwt_issue {\n\tfailed_status 99\n}", "not '99'", 2},
	} {
		var h Issue
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
		t.Run(c.name, func(t *testing.T) { caddyfileTestErr(t, err, c.want, c.line) })
	}
	for _, input := range []string{"jwt_strip x", "jwt_strip {\n\tx\n}"} {
		_, err := parseStripDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(input)})
		if err == nil {
			t.Errorf("%q: accepted", input)
		}
	}
	if _, err := parseStripDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("jwt_strip")}); err != nil {
		t.Errorf("jwt_strip: %v", err)
	}
}
