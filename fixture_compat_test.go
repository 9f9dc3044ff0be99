package jwtextended

// Names of the old per-area test helpers that test files outside the
// unit-test fixture's migration still call (the integration tests,
// reauth_family_test.go, throttle_test.go, admin_test.go,
// flask_interop_test.go). Each is the fixture's own, under its old name;
// delete a name here once no file calls it.

import "testing"

// issuerTestEnv is the fixture (throttle_test.go, reauth_family_test.go).
type issuerTestEnv = fixture

const (
	issuerTestSecret   = fixtureSecret
	issuerTestPassword = fixturePassword
)

// issuerTestSetup is newFixture with withApp(appMod) and withIssuer(issueMod).
func issuerTestSetup(t *testing.T, appMod func(*App), issueMod func(*Issue)) *fixture {
	t.Helper()
	return newFixture(t, withApp(appMod), withIssuer(issueMod))
}

var (
	issuerTestHash    = passwordHash
	issuerTestDecode  = decodeToken
	issuerTestJSON    = jsonPost
	issuerTestCreds   = creds
	issuerTestBearer  = withBearer
	issuerTestBody    = bodyJSON
	issuerTestWantMsg = wantMsg
	issuerTestUUIDv4  = uuidV4
	authtestsBody     = refusalBody
	metricsTestValue  = metricValue
)
