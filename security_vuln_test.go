//go:build vuln

package jwtextended

// Known holes, each shown by a failing test, kept out of the default build
// so the suite stays green. Run with: go test -tags vuln -run TestVuln .

import "testing"

// TestVulnUnicodeFoldDuplicateClaim: uniqueMembers compares member names
// with strings.ToLower, but encoding/json matches struct fields with
// Unicode case folding, under which U+017F (long s) equals 's'. A signed
// payload {"sub":"alice","ſub":"admin"} is accepted with identity alice,
// while an upstream that decodes X-Jwt-Claims into a struct with a Sub
// field reads "admin" (the last match wins). Needs a token signed by a
// trusted key, so it is a parser differential rather than a forgery. The
// perf branch's JSON scanner (jsonscan.go) folds names the way
// encoding/json does; when it lands, move this case into
// TestSecurityAttacks/duplicate_claims.
func TestVulnUnicodeFoldDuplicateClaim(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	tok := secHS256(t, secHeaderHS256, `{"sub":"alice","\u017fub":"admin","type":"access","exp":1800000900}`)
	secRun(t, []secCase{{name: "long_s", req: secBearer(tok), status: 401, msg: "Duplicate claim names are not allowed"}})
}
