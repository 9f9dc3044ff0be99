//go:build bugs

package jwtextended

// Tests that fail on main today, kept out of the default build so the suite
// stays green: go test -tags bugs -run TestBug . shows them. Each names the
// behaviour it expects and why; see the authtests report.

import (
	"testing"
)

// TestBugDotVariantsNotStripped (hardening, beyond the contract's wording):
// Caddy 2.11 drops client headers with dots unless expected_dot_headers
// allowlists them, because PHP/CGI backends fold '.', '_' and '-' onto the
// same variable. Where a site allowlists them, X.Jwt.Identity passes
// jwt_auth untouched and a PHP backend reads it as HTTP_X_JWT_IDENTITY, the
// same variable as the module's X-Jwt-Identity. Reading '.' like '_' in
// hasJWTPrefix closes it.
func TestBugDotVariantsNotStripped(t *testing.T) {
	h, _ := authtestsHandler(t, nil, nil)
	r := authtestsBearer(authtestsToken(t, nil))
	r.Header["X.Jwt.Identity"] = []string{"mallory"}
	r.Header["X-Jwt.Role"] = []string{"admin"}
	res := authtestsServe(h, r)
	for name := range res.next.header {
		if name == "X.Jwt.Identity" || name == "X-Jwt.Role" {
			t.Errorf("next handler saw client header %s", name)
		}
	}
}
