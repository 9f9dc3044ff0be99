package jwtextended

// Key attacks: algorithm confusion and swaps within a family, ECDSA
// signature forms, header-borne keys (jku, x5u, x5c, jwk), the
// zero-config key and remote JWK Set fetch limits.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
)

// TestSecurityUntrustedKeyHeaders: jku, x5u, x5c and an embedded jwk never
// choose a key and are never fetched. A local server stands in for the
// attacker's key host and must see no request at all.
func TestSecurityUntrustedKeyHeaders(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":[{"kty":"oct","k":%q,"alg":"HS256"}]}`, testkit.B64URL([]byte(secOtherSecret)))
	}))
	defer attacker.Close()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))

	attackerJWK := map[string]any{"kty": "oct", "k": testkit.B64URL([]byte(secOtherSecret)), "alg": "HS256"}
	// a syntactically plausible certificate chain entry: the attacker's
	// key is what it would carry
	x5c := []string{base64.StdEncoding.EncodeToString([]byte("not really a certificate, never parsed"))}
	headers := map[string]map[string]any{
		"jku":     {"jku": attacker.URL + "/jwks.json"},
		"x5u":     {"x5u": attacker.URL + "/cert.pem"},
		"x5c":     {"x5c": x5c},
		"jwk":     {"jwk": attackerJWK},
		"all":     {"jku": attacker.URL + "/jwks.json", "x5u": attacker.URL + "/cert.pem", "x5c": x5c, "jwk": attackerJWK},
		"jku_kid": {"jku": attacker.URL + "/jwks.json", "kid": "attacker"},
	}
	var cases []secCase
	for name, hdr := range headers {
		want := "Signature verification failed"
		if _, ok := hdr["kid"]; ok {
			want = "Unknown key id"
		}
		// signed with the attacker's key, which the header offers
		cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(fx.signed("HS256", []byte(secOtherSecret), secClaims(map[string]any{"sub": "admin"}), hdr)), status: 401, msg: want})
		if _, ok := hdr["kid"]; ok {
			continue
		}
		// signed with the configured key: the header is ignored
		cases = append(cases, secCase{name: name + "/configured_key", req: secBearer(fx.signed("HS256", fx.key, secClaims(nil), hdr)), status: 200, identity: "alice"})
	}
	secRun(t, fx, cases)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the key host named in a token header got %d requests, want 0", n)
	}
}

// TestSecurityHMACFamilyPin: an app pinned to HS384 refuses HS256 and
// HS512 tokens made with its own secret.
func TestSecurityHMACFamilyPin(t *testing.T) {
	t.Parallel()
	secret := secSecret + "-0123456789abc"
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secret+`","algorithm":"HS384"}`)), withUpstream(http.StatusOK, "upstream"))
	sign := func(alg string) *http.Request {
		return secBearer(fx.signed(alg, []byte(secret), secClaims(nil)))
	}
	secRun(t, fx, []secCase{
		{name: "control/HS384", req: sign("HS384"), status: 200, identity: "alice"},
		{name: "HS256_with_hs384_secret", req: sign("HS256"), status: 401, msg: "The specified alg value is not allowed"},
		{name: "HS512_with_hs384_secret", req: sign("HS512"), status: 401, msg: "The specified alg value is not allowed"},
	})
}

// secKeys are generated once per test binary.
var (
	secKeysOnce sync.Once
	secRSA      *rsa.PrivateKey
	secRSAOther *rsa.PrivateKey
	secP256     *ecdsa.PrivateKey
	secP384     *ecdsa.PrivateKey
	secEd       ed25519.PrivateKey
)

func secGenKeys(t testing.TB) {
	t.Helper()
	secKeysOnce.Do(func() {
		var err error
		if secRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if secRSAOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if secP256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if secP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, secEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// secPublicPEM writes pub as a PKIX PEM file and returns its path, the
// PEM bytes and the DER bytes.
func secPublicPEM(t testing.TB, pub any) (string, []byte, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemBytes, der
}

// secPrivateConfig is a jwt app config with priv (PKCS#8 PEM in a file)
// as the signing key under kid k1 and alg; its public half verifies.
func secPrivateConfig(t testing.TB, alg string, priv any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return `{"algorithm":"` + alg + `","private_key":{"file":` + string(testkit.MustJSON(t, path)) + `,"kid":"k1"}}`
}

// TestSecurityAlgorithmConfusion: a token whose alg is HMAC, keyed with
// the bytes of a configured public key in PEM or DER form, is refused by
// the algorithm pin (with and without the key's kid); and swapping the
// algorithm within a family (RS256/PS256, ES256/ES384) with the right key
// is refused too.
func TestSecurityAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	secGenKeys(t)
	type family struct {
		name, alg string
		pub       any
		priv      any
		swaps     []string // same key, another alg of the family
	}
	for _, f := range []family{
		{name: "rsa_RS256", alg: "RS256", pub: &secRSA.PublicKey, priv: secRSA, swaps: []string{"PS256", "RS384", "RS512", "PS384"}},
		{name: "rsa_PS256", alg: "PS256", pub: &secRSA.PublicKey, priv: secRSA, swaps: []string{"RS256", "PS384", "PS512"}},
		{name: "ec_ES256", alg: "ES256", pub: &secP256.PublicKey, priv: secP256, swaps: []string{"ES384", "ES512"}},
		{name: "ec_ES384", alg: "ES384", pub: &secP384.PublicKey, priv: secP384, swaps: []string{"ES256", "ES512"}},
		{name: "ed_EdDSA", alg: "EdDSA", pub: secEd.Public(), priv: secEd},
	} {
		t.Run(f.name, func(t *testing.T) {
			_, pemBytes, der := secPublicPEM(t, f.pub)
			fx := newFixture(t, appConfig([]byte(secPrivateConfig(t, f.alg, f.priv))), withUpstream(http.StatusOK, "upstream"))
			cases := []secCase{
				{name: "control/kid", req: secBearer(fx.signed(f.alg, f.priv, secClaims(nil), map[string]any{"kid": "k1"})), status: 200, identity: "alice"},
				{name: "control/no_kid", req: secBearer(fx.signed(f.alg, f.priv, secClaims(nil))), status: 200, identity: "alice"},
			}
			for _, hs := range []string{"HS256", "HS384", "HS512"} {
				for form, secret := range map[string][]byte{"pem": pemBytes, "pem_trimmed": []byte(strings.TrimSpace(string(pemBytes))), "der": der} {
					for _, kid := range []string{"k1", ""} {
						hdr := map[string]any{"kid": kid}
						name := "confusion/" + hs + "_" + form + "_kid"
						if kid == "" {
							hdr, name = nil, "confusion/"+hs+"_"+form+"_no_kid"
						}
						cases = append(cases, secCase{name: name, req: secBearer(fx.signed(hs, secret, secClaims(nil), hdr)), status: 401, msg: "The specified alg value is not allowed"})
					}
				}
			}
			for _, alg := range f.swaps {
				cases = append(cases, secCase{name: "swap/" + alg, req: secBearer(fx.signed(alg, f.priv, secClaims(nil), map[string]any{"kid": "k1"})), status: 401, msg: "The specified alg value is not allowed"})
			}
			for _, none := range []string{"none", "None"} {
				unsigned := testkit.B64URL([]byte(`{"alg":"`+none+`","kid":"k1"}`)) + "." + testkit.B64URL(testkit.MustJSON(t, secClaims(nil))) + "."
				cases = append(cases, secCase{name: "alg_none/" + none, req: secBearer(unsigned), status: 401, msg: "Not enough segments"})
			}
			secRun(t, fx, cases)
		})
	}
}

// TestSecurityECDSASignatureForms: ES256 signatures must be the raw 64-byte
// r||s form; an ASN.1 DER signature or the r=s=0 "psychic signature"
// (CVE-2022-21449) is refused.
func TestSecurityECDSASignatureForms(t *testing.T) {
	t.Parallel()
	secGenKeys(t)
	fx := newFixture(t, appConfig([]byte(secPrivateConfig(t, "ES256", secP256))), withUpstream(http.StatusOK, "upstream"))
	valid := fx.signed("ES256", secP256, secClaims(nil), map[string]any{"kid": "k1"})
	h, p, _ := secSegments(valid)
	digest := sha256.Sum256([]byte(h + "." + p))
	asn1Sig, err := ecdsa.SignASN1(rand.Reader, secP256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	secRun(t, fx, []secCase{
		{name: "control/raw_r_s", req: secBearer(valid), status: 200, identity: "alice"},
		{name: "asn1_der_signature", req: secBearer(h + "." + p + "." + testkit.B64URL(asn1Sig)), status: 401, msg: "Signature verification failed"},
		{name: "psychic_zero_signature", req: secBearer(h + "." + p + "." + testkit.B64URL(make([]byte, 64))), status: 401, msg: "Signature verification failed"},
		{name: "other_curve_key", req: secBearer(fx.signed("ES256", mustP256(t), secClaims(nil), map[string]any{"kid": "k1"})), status: 401, msg: "Signature verification failed"},
	})
}

func mustP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSecurityHeaderKeysAsymmetric: with a configured RSA key, tokens signed
// by the attacker's own RSA key and offering it in jwk, jku, x5u or x5c
// are refused, the hosts named are never contacted, and the configured
// key's tokens with those headers still pass.
func TestSecurityHeaderKeysAsymmetric(t *testing.T) {
	t.Parallel()
	secGenKeys(t)
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(200)
	}))
	defer attacker.Close()
	// verify-only: the public key file alone (its algorithm is RS256)
	path, _, _ := secPublicPEM(t, &secRSA.PublicKey)
	fx := newFixture(t, appConfig([]byte(`{"public_keys":[{"file":`+string(testkit.MustJSON(t, path))+`,"kid":"k1"}]}`)), withUpstream(http.StatusOK, "upstream"))

	// a self-signed certificate of the attacker's key
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}, NotBefore: secNow.Add(-time.Hour), NotAfter: secNow.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &secRSAOther.PublicKey, secRSAOther)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{
		"kty": "RSA", "kid": "k1", "alg": "RS256",
		"n": testkit.B64URL(secRSAOther.N.Bytes()), "e": testkit.B64URL(big.NewInt(int64(secRSAOther.E)).Bytes()),
	}
	headers := map[string]map[string]any{
		"jwk":          {"kid": "k1", "jwk": jwk},
		"jwk_no_kid":   {"jwk": jwk},
		"jku":          {"kid": "k1", "jku": attacker.URL + "/jwks"},
		"jku_new_kid":  {"kid": "attacker", "jku": attacker.URL + "/jwks"},
		"x5u":          {"kid": "k1", "x5u": attacker.URL + "/cert"},
		"x5c":          {"kid": "k1", "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"x5c_no_kid":   {"x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"x5t_and_x5c":  {"kid": "k1", "x5t#S256": testkit.B64URL([]byte("x")), "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"jwk_oct_hmac": {"kid": "k1", "jwk": map[string]any{"kty": "oct", "k": testkit.B64URL([]byte(secOtherSecret))}},
	}
	var cases []secCase
	for name, hdr := range headers {
		want := "Signature verification failed"
		if hdr["kid"] == "attacker" {
			want = "Unknown key id"
		}
		if name == "jwk_oct_hmac" {
			cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(fx.signed("HS256", []byte(secOtherSecret), secClaims(map[string]any{"sub": "admin"}), hdr)), status: 401, msg: "The specified alg value is not allowed"})
			continue
		}
		cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(fx.signed("RS256", secRSAOther, secClaims(map[string]any{"sub": "admin"}), hdr)), status: 401, msg: want})
		if hdr["kid"] != "attacker" {
			cases = append(cases, secCase{name: name + "/configured_key", req: secBearer(fx.signed("RS256", secRSA, secClaims(nil), hdr)), status: 200, identity: "alice"})
		}
	}
	secRun(t, fx, cases)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the host named in a token header got %d requests, want 0", n)
	}
}

// TestSecurityZeroConfigKey: with no key configured the app's generated
// ES256 key verifies; an HMAC token keyed with its published JWK, or an
// alg none token, is refused.
func TestSecurityZeroConfigKey(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	jwks := a.ring.PublicJWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("published set %s: %v", jwks, err)
	}
	kid, _ := set.Keys[0]["kid"].(string)
	oneKey, _ := json.Marshal(set.Keys[0])
	var cases []secCase
	for name, secret := range map[string][]byte{"jwks": jwks, "jwk": oneKey, "x": []byte(set.Keys[0]["x"].(string))} {
		cases = append(cases,
			secCase{name: "confusion/HS256_" + name + "_kid", req: secBearer(fx.signed("HS256", secret, secClaims(nil), map[string]any{"kid": kid})), status: 401, msg: "The specified alg value is not allowed"},
			secCase{name: "confusion/HS256_" + name + "_no_kid", req: secBearer(fx.signed("HS256", secret, secClaims(nil))), status: 401, msg: "The specified alg value is not allowed"},
		)
	}
	secRun(t, fx, cases)
}

// TestSecurityJWKSFetchLimits: the remote JWK Set fetch is bounded in size,
// and a token's jku is never fetched. (The fetch's time bound and the
// throttle of early refreshes on unknown kids are shown deterministically
// by internal/keys: TestJWKSClientTimeout, TestJWKSUnknownKIDRefresh.)
func TestSecurityJWKSFetchLimits(t *testing.T) {
	t.Parallel()
	secGenKeys(t)
	var jku atomic.Int64
	var oversized atomic.Bool
	set, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "remote", "alg": "RS256", "use": "sig",
		"n": testkit.B64URL(secRSA.N.Bytes()), "e": testkit.B64URL(big.NewInt(int64(secRSA.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/evil" {
			jku.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if oversized.Load() {
			// a valid set followed by 1 MiB of white space
			_, _ = w.Write(append(append([]byte{}, set...), []byte(strings.Repeat(" ", keys.MaxJWKSBytes))...))
			return
		}
		_, _ = w.Write(set)
	}))
	defer idp.Close()
	// the first fetch (at start, in the background) gets an oversized set
	oversized.Store(true)
	fx := newFixture(t, appConfig([]byte(`{"jwks_urls":[`+string(testkit.MustJSON(t, idp.URL))+`],"jwks_refresh":"1h"}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	// cf. Envoy CVE-2025-64527: with no usable remote set the request is
	// refused as an unknown key, never answered 5xx or crashed
	h0 := fx.auth(Auth{})
	if res := secResultOf(t, fx.serve(h0, secBearer(fx.signed("RS256", secRSA, secClaims(nil), map[string]any{"kid": "remote"})))); res.status != 401 || res.msg != "Unknown key id" {
		t.Fatalf("token of a not yet fetched key: %d %q, want 401 Unknown key id", res.status, res.msg)
	}
	if err := a.ring.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("fetching a set over %d bytes: %v, want a size error", keys.MaxJWKSBytes, err)
	}
	oversized.Store(false)
	if err := a.ring.Refresh(context.Background()); err != nil {
		t.Fatalf("control: fetching the set: %v", err)
	}
	h := fx.auth(Auth{})
	if res := secResultOf(t, fx.serve(h, secBearer(fx.signed("RS256", secRSA, secClaims(nil), map[string]any{"kid": "remote"})))); res.status != 200 {
		t.Fatalf("control: token of the remote key: %d %q", res.status, res.msg)
	}
	// many unknown kids naming a jku: refused, and the jku is never asked
	for i := 0; i < 50; i++ {
		res := secResultOf(t, fx.serve(h, secBearer(fx.signed("RS256", secRSAOther, secClaims(nil), map[string]any{"kid": "unknown-" + strconv.Itoa(i), "jku": idp.URL + "/evil"}))))
		if res.status != 401 || res.msg != "Unknown key id" {
			t.Fatalf("unknown kid: %d %q", res.status, res.msg)
		}
	}
	if err := a.ring.Refresh(context.Background()); err != nil {
		t.Fatalf("refreshing the configured set: %v", err)
	}
	if n := jku.Load(); n != 0 {
		t.Fatalf("the token's jku was fetched %d times", n)
	}
}
