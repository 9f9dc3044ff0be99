package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestFreePortIsBindable(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d from FreePort: %v", p, err)
	}
	l.Close()
}

func TestNewPortsDistinct(t *testing.T) {
	p := NewPorts(t)
	if p.Admin == p.HTTP || p.HTTP == p.HTTPS || p.Admin == p.HTTPS || p.Admin == 0 || p.HTTP == 0 || p.HTTPS == 0 {
		t.Fatalf("ports not distinct: %+v", p)
	}
	seen := map[int]bool{}
	for _, p := range FreePorts(t, 8) {
		if seen[p] {
			t.Fatalf("FreePorts returned %d twice", p)
		}
		seen[p] = true
	}
	if SharedPorts(t) != SharedPorts(t) {
		t.Fatal("SharedPorts changed between calls")
	}
}

func TestGlobals(t *testing.T) {
	p := Ports{Admin: 1, HTTP: 2, HTTPS: 3}
	want := "{\n\tskip_install_trust\n\tadmin localhost:1\n\thttp_port 2\n\thttps_port 3\n\tstorage file_system {$CADDY_JWT_TEST_STORAGE}\n\tauto_https off\n}\n"
	if got := p.Globals("\tauto_https off\n"); got != want {
		t.Errorf("Globals:\n%s\nwant\n%s", got, want)
	}
	if p.HTTPBase() != "http://localhost:2" || p.AdminBase() != "http://localhost:1" {
		t.Errorf("bases %q %q", p.HTTPBase(), p.AdminBase())
	}
}

func TestClock(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := NewClock(t0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(t0.Add(400 * time.Second)) {
		t.Fatalf("Now %v after 400 advances of 1s from %v", got, t0)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Fatal("Set did not move the clock")
	}
}

func TestBcryptHashCachedAtMinCost(t *testing.T) {
	h := BcryptHash(t, "pw")
	if h != BcryptHash(t, "pw") {
		t.Fatal("the hash of one password changed between calls")
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.MinCost {
		t.Fatalf("cost %d (%v), want %d", cost, err, bcrypt.MinCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")) != nil || bcrypt.CompareHashAndPassword([]byte(BcryptHash(t, "other")), []byte("pw")) == nil {
		t.Fatal("hashes do not match their passwords")
	}
}

// TestSignVerifiesWithStdlib checks each family's signature with the
// standard library's verifiers.
func TestSignVerifiesWithStdlib(t *testing.T) {
	claims := map[string]any{"sub": "alice", "drop": 1}
	split := func(tok string) (string, []byte) {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		return tok[:i], sig
	}
	digest := func(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

	hs := SignToken(t, "HS256", []byte("k"), map[string]any{"kid": "1", "typ": nil}, claims)
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(hs, ".")[0])
	if string(hdr) != `{"alg":"HS256","kid":"1"}` {
		t.Errorf("header %s", hdr)
	}
	if in, sig := split(hs); SignRaw(t, "HS256", []byte("k"), hdr, MustJSON(t, claims)) != hs || len(sig) != 32 || in == "" {
		t.Errorf("HS256 not deterministic or wrong size")
	}

	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	in, sig := split(SignToken(t, "RS256", rk, nil, claims))
	if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, digest(in), sig); err != nil {
		t.Errorf("RS256: %v", err)
	}
	in, sig = split(SignToken(t, "PS256", rk, nil, claims))
	if err := rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, digest(in), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Errorf("PS256: %v", err)
	}

	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	in, sig = split(SignToken(t, "ES256", ek, nil, claims))
	if len(sig) != 64 || !ecdsa.Verify(&ek.PublicKey, digest(in), new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Errorf("ES256 signature does not verify (%d bytes)", len(sig))
	}

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	in, sig = split(SignToken(t, "EdDSA", priv, nil, claims))
	if !ed25519.Verify(pub, []byte(in), sig) {
		t.Error("EdDSA signature does not verify")
	}

	if tok := SignToken(t, "none", nil, nil, claims); !strings.HasSuffix(tok, ".") {
		t.Errorf("none: %q", tok)
	}
}

func TestDocBlocks(t *testing.T) {
	doc := "# T\n\n## A\n\n```sh\n# not a heading\necho a\n```\n\n### A.1\n\n- item:\n\n  ```caddyfile\n  one {\n  \tx\n  }\n  ```\n\n```caddyfile\ntwo\n```\n\n## B\n\n```caddyfile\nthree\n```\n"
	path := t.TempDir() + "/doc.md"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := DocBlocks(t, path, "## A", "caddyfile")
	if want := []string{"one {\n\tx\n}\n", "two\n"}; !slices.Equal(got, want) {
		t.Errorf("## A: %q, want %q", got, want)
	}
	if got := DocBlocks(t, path, "### A.1", "caddyfile"); len(got) != 2 {
		t.Errorf("### A.1 runs to ## B: %q", got)
	}
	if got := DocBlocks(t, path, "## A", "sh"); len(got) != 1 || got[0] != "# not a heading\necho a\n" {
		t.Errorf("## A, sh: %q", got)
	}
	if got := DocBlocks(t, path, "## B", "caddyfile"); len(got) != 1 || got[0] != "three\n" {
		t.Errorf("## B: %q", got)
	}
}

func TestReplaceReverseProxy(t *testing.T) {
	block := "a {\n\thandle /api/* {\n\t\treverse_proxy app.internal:8080\n\t}\n\treverse_proxy [::1]:80\n\treverse_proxy x {\n\t\tlb_policy first\n\t}\n}\n"
	got := ReplaceReverseProxy(t, block, `respond "ok"`)
	want := "a {\n\thandle /api/* {\n\t\trespond \"ok\"\n\t}\n\trespond \"ok\"\n\treverse_proxy x {\n\t\tlb_policy first\n\t}\n}\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
