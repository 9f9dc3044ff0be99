package jwtextended

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// caddy jwt genkey: secrets long enough for their algorithm, key pairs the
// app loads with the algorithm inferred.
func TestCommandGenkey(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		var out strings.Builder
		if err := genkey(&out, alg, ""); err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimSpace(out.String())
		a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"secret": secret, "algorithm": alg})), wallClock()).app
		if sk, _ := a.ring.Signer(); sk.Alg != alg {
			t.Fatalf("%s: signer %s", alg, sk.Alg)
		}
	}
	for _, alg := range []string{"ES384", "eddsa", "PS256"} {
		path := filepath.Join(t.TempDir(), "key.pem")
		var out strings.Builder
		if err := genkey(&out, alg, path); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: private key file %v, %v", alg, fi, err)
		}
		want := map[string]string{"ES384": "ES384", "eddsa": "EdDSA", "PS256": "PS256"}[alg]
		cfg := map[string]any{"private_key": map[string]any{"file": path}}
		if want == "PS256" {
			cfg["algorithm"] = "PS256"
		}
		a := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock()).app
		sk, _ := a.ring.Signer()
		if sk.Alg != want || !strings.Contains(out.String(), sk.KID) {
			t.Fatalf("%s: signer %s kid %s; output %q", alg, sk.Alg, sk.KID, out.String())
		}
		if _, err := os.Stat(path + ".pub"); err != nil {
			t.Fatal(err)
		}
		pub := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"public_keys": []any{map[string]any{"file": path + ".pub"}}})), wallClock()).app
		if pub.ring.Current().KeysWithoutKID()[0].KID != sk.KID {
			t.Fatalf("%s: the public half has another kid", alg)
		}
	}
	if err := genkey(io.Discard, "none", ""); err == nil {
		t.Fatal("genkey --alg none accepted")
	}
}

// caddy jwt mint and decode with a Caddyfile's keys.
func TestCommandMintDecode(t *testing.T) {
	key := testkit.Keys()["p256"].(*ecdsa.PrivateKey)
	dir := t.TempDir()
	keyPath := testkit.WritePKCS8(t, key)
	caddyfile := filepath.Join(dir, "Caddyfile")
	os.WriteFile(caddyfile, []byte(`{
	storage file_system `+filepath.Join(dir, "data")+`
	jwt {
		private_key `+keyPath+` key-1
		issuer https://auth.example
		audience api
		access_ttl 5m
	}
}
`), 0o600)

	var out strings.Builder
	err := mint(&out, mintOptions{config: caddyfile, sub: "alice", typ: token.TypeAccess, fresh: true, claims: []string{"role=admin", "level=3"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())

	// checked independently: stdlib ECDSA over the raw segments
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	sig, _ := jws.Encoding.DecodeString(parts[2])
	digest := sha256Of(parts[0] + "." + parts[1])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&key.PublicKey, digest, r, s) {
		t.Fatal("minted token's signature does not verify with the configured key")
	}
	var hdr, claims map[string]any
	hb, _ := jws.Encoding.DecodeString(parts[0])
	pb, _ := jws.Encoding.DecodeString(parts[1])
	json.Unmarshal(hb, &hdr)
	json.Unmarshal(pb, &claims)
	if hdr["alg"] != "ES256" || hdr["kid"] != "key-1" {
		t.Fatalf("header %v", hdr)
	}
	exp, iat := claims["exp"].(float64), claims["iat"].(float64)
	if claims["sub"] != "alice" || claims["type"] != "access" || claims["fresh"] != true || claims["iss"] != "https://auth.example" ||
		claims["aud"] != "api" || claims["role"] != "admin" || claims["level"] != float64(3) || exp-iat != 300 || claims["nbf"] != iat {
		t.Fatalf("claims %v", claims)
	}
	if jti, _ := claims["jti"].(string); len(jti) != 36 || jti[14] != '4' {
		t.Fatalf("jti %q is not a UUIDv4", jti)
	}

	out.Reset()
	if _, err := decode(&out, caddyfile, "", tok); err != nil {
		t.Fatalf("decode: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "token verified") || !strings.Contains(out.String(), `"sub": "alice"`) || !strings.Contains(out.String(), `"kid": "key-1"`) {
		t.Fatalf("decode output:\n%s", out.String())
	}

	// a token of another key is refused, and decode says why
	other := testkit.SignToken(t, "ES256", testkit.Keys()["p256b"], kidHeader("key-1"), wallClaims())
	out.Reset()
	_, err = decode(&out, caddyfile, "", other)
	if err == nil || !strings.Contains(out.String(), "REFUSED") || !strings.Contains(out.String(), "Signature verification failed") {
		t.Fatalf("decode of a foreign token: %v\n%s", err, out.String())
	}

	// a refresh token
	out.Reset()
	if err := mint(&out, mintOptions{config: caddyfile, sub: "alice", typ: token.TypeRefresh}); err != nil {
		t.Fatal(err)
	}
	out2 := strings.Builder{}
	if _, err := decode(&out2, caddyfile, "", out.String()); err != nil || !strings.Contains(out2.String(), `"type": "refresh"`) {
		t.Fatalf("refresh token: %v\n%s", err, out2.String())
	}

	// a verify-only config cannot mint
	verifyOnly := filepath.Join(dir, "Caddyfile.verify")
	os.WriteFile(verifyOnly, []byte("{\n\tjwt {\n\t\tpublic_key "+testkit.WritePKIX(t, key.Public())+"\n\t}\n}\n"), 0o600)
	if err := mint(io.Discard, mintOptions{config: verifyOnly, adapter: "caddyfile", sub: "a", typ: token.TypeAccess}); err == nil || !strings.Contains(err.Error(), "only verifies") {
		t.Fatalf("mint with a verify-only config: %v", err)
	}
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// The subcommands build what they need from the config through the core
// packages: decode on a config without keys loads the key Caddy generated
// in storage and never creates one, reads the revocations in storage
// without writing, and says what it checked.
func TestCommandDecodeWritesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte("{\n\tstorage file_system "+data+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// no key generated yet: decode and mint say so, and create nothing
	var out strings.Builder
	_, err := decode(&out, caddyfile, "", "a.b.c")
	if err == nil || !strings.Contains(err.Error(), "no key has been generated in its storage yet") {
		t.Fatalf("decode without a generated key: %v", err)
	}
	if err := mint(io.Discard, mintOptions{config: caddyfile, sub: "alice", typ: token.TypeAccess}); err == nil {
		t.Fatal("mint without a generated key succeeded")
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the subcommands wrote to storage: %v", err)
	}

	// Caddy generates the key (here: the app provisioned on that storage)
	// and a token of it is revoked
	f, err := tryFixture(t, appConfig([]byte(`{}`)), inStorage(data), wallClock())
	if err != nil {
		t.Fatal(err)
	}
	app := f.app
	m, err := app.mint(context.Background(), token.Request{Type: token.TypeAccess, Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	listing := func() []string {
		var names []string
		_ = filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			names = append(names, p)
			return err
		})
		return names
	}
	out.Reset()
	if status, err := decode(&out, caddyfile, "", m.Raw); err != nil || status != decodeValid || !strings.Contains(out.String(), "token verified") ||
		!strings.Contains(out.String(), "revocation: not revoked (checked in storage)") {
		t.Fatalf("decode: %d %v\n%s", status, err, out.String())
	}
	if err := f.revoke(m.JTI, m.Exp); err != nil {
		t.Fatal(err)
	}
	before := listing()
	out.Reset()
	if status, err := decode(&out, caddyfile, "", m.Raw); err == nil || status != decodeRevoked || !strings.Contains(out.String(), "revocation: REVOKED (in storage)") {
		t.Fatalf("decode of a revoked token: %d %v\n%s", status, err, out.String())
	}
	if after := listing(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("decode changed storage:\n%q\n%q", before, after)
	}
	// a refused token: revocation is not checked, and decode says so
	out.Reset()
	if status, err := decode(&out, caddyfile, "", m.Raw+"x"); err == nil || status != decodeRefused || !strings.Contains(out.String(), "revocation: not checked (the token is refused)") {
		t.Fatalf("decode of a refused token: %d %v\n%s", status, err, out.String())
	}

	// a token whose identity is revoked: the server refuses it, and so
	// does decode (it said "not revoked" and exited 0 before)
	bob, err := app.mint(context.Background(), token.Request{Type: token.TypeAccess, Identity: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.revoked.revokeIdentity(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if status, err := decode(&out, caddyfile, "", bob.Raw); err == nil || status != decodeRevoked || !strings.Contains(out.String(), `every token of "bob"`) {
		t.Fatalf("decode of a token whose identity is revoked: %d %v\n%s", status, err, out.String())
	}
}
