package keys

import (
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestSecretsRotation: the first secret signs, with its kid; every secret
// verifies, selected by kid or, without one, tried in order; each counts
// as this configuration's own key.
func TestSecretsRotation(t *testing.T) {
	a, b, c := string(testkit.Secret(32)), string(testkit.Secret(32)), string(testkit.Secret(32))
	ring, err := Load(Config{Secrets: []Secret{{Key: a, KID: "2026"}, {Key: b, KID: "2025"}, {Key: c}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ring.Signer()
	if err != nil || s.KID != "2026" || string(s.Key.([]byte)) != a || s.Alg != "HS256" {
		t.Fatalf("signer %+v, %v", s, err)
	}
	snap := ring.Current()
	if k := snap.KeyFor("2025"); k == nil || string(k.Material.([]byte)) != b || !ring.Signs(k) {
		t.Errorf("kid 2025: %+v", k)
	}
	if k := snap.KeyFor("2026"); k == nil || string(k.Material.([]byte)) != a || !ring.Signs(k) {
		t.Errorf("kid 2026: %+v", k)
	}
	noKID := snap.KeysWithoutKID()
	if len(noKID) != 3 || string(noKID[2].Material.([]byte)) != c || !ring.Signs(noKID[2]) {
		t.Errorf("keys without kid: %v", noKID)
	}
	if string(ring.jwks) != `{"keys":[]}` {
		t.Errorf("secrets published: %s", ring.jwks)
	}

	// one secret without kid: a signer without kid, as before
	ring, err = Load(Config{Secret: a})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ring.Signer(); s.KID != "" {
		t.Errorf("kid %q", s.KID)
	}
}

// TestSecretsRefused: every secret is checked against the algorithm;
// kids are unique; secret and secrets are not both set.
func TestSecretsRefused(t *testing.T) {
	long := string(testkit.Secret(64))
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"short second secret", Config{Secrets: []Secret{{Key: long}, {Key: "short"}}}, "secret 2 is 5 bytes, HS256 needs at least 32"},
		{"short for HS512", Config{Algorithm: "HS512", Secrets: []Secret{{Key: long}, {Key: long[:40]}}}, "secret 2 is 40 bytes, HS512 needs at least 64"},
		{"duplicate kid", Config{Secrets: []Secret{{Key: long, KID: "a"}, {Key: long[:32], KID: "a"}}}, `key id "a" is used by both secret 1 and secret 2`},
		{"secret and secrets", Config{Secret: long, Secrets: []Secret{{Key: long}}}, "secret and secrets are both set"},
		{"empty secret", Config{Secrets: []Secret{{Key: long}, {}}}, "secret 2 is empty"},
		{"asymmetric algorithm", Config{Algorithm: "ES256", Secrets: []Secret{{Key: long}, {Key: long}}}, "secret is an HMAC key, but algorithm is ES256"},
		{"with private_key", Config{Secrets: []Secret{{Key: long}}, PrivateKey: &KeyFile{File: "x.pem"}}, "secret and private_key are both set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), long[:32]) {
				t.Fatalf("the error echoes a secret: %v", err)
			}
		})
	}
}

// TestAlgorithmBindsVerifyOnlyKeys: with no key that signs, algorithm is
// the algorithm of the public_key keys; one that cannot fit a key refuses
// with the key's own message; HS algorithms and a configuration without
// public_key still refuse as before.
func TestAlgorithmBindsVerifyOnlyKeys(t *testing.T) {
	ks := testkit.Keys()
	rsaPub := testkit.WritePKIX(t, ks["rsa"].Public())
	p256Pub := testkit.WritePKIX(t, ks["p256"].Public())
	edPub := testkit.WritePKIX(t, ks["ed"].Public())
	for _, c := range []struct {
		alg  string
		file string
		want string // the bound algorithm
	}{
		{"PS256", rsaPub, "PS256"}, {"RS512", rsaPub, "RS512"}, {"ES256", p256Pub, "ES256"}, {"EdDSA", edPub, "EdDSA"},
	} {
		ring, err := Load(Config{Algorithm: c.alg, PublicKeys: []KeyFile{{File: c.file, KID: "idp"}}})
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		if k := ring.Current().KeyFor("idp"); k == nil || k.Alg != c.want {
			t.Errorf("%s: key %+v", c.alg, k)
		}
		if _, err := ring.Signer(); err == nil || !strings.Contains(err.Error(), "only verifies") {
			t.Errorf("%s: signer error %v", c.alg, err)
		}
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"EC algorithm, RSA key", Config{Algorithm: "ES256", PublicKeys: []KeyFile{{File: rsaPub}}}, "an RSA key cannot be used with algorithm ES256"},
		{"curve mismatch", Config{Algorithm: "ES384", PublicKeys: []KeyFile{{File: p256Pub}}}, "an ECDSA P-256 key is used with ES256 only, not ES384"},
		{"RSA algorithm, Ed25519 key", Config{Algorithm: "PS256", PublicKeys: []KeyFile{{File: edPub}}}, "an Ed25519 key is used with EdDSA only, not PS256"},
		{"one key of two does not fit", Config{Algorithm: "RS256", PublicKeys: []KeyFile{{File: rsaPub}, {File: p256Pub}}}, "ES256 only, not RS256"},
		{"HMAC algorithm without secret", Config{Algorithm: "HS256", PublicKeys: []KeyFile{{File: rsaPub}}}, "there is no secret or private_key for it to sign with"},
		{"jwks_url only", Config{Algorithm: "RS256", JWKSURLs: []string{"https://idp.invalid/jwks"}}, "there is no secret or private_key for it to sign with"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
