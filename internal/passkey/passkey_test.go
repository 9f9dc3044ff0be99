package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
)

const (
	rpID   = "example.com"
	origin = "https://example.com"
	alice  = "alice"
	bob    = "bob"
)

type fixture struct {
	t       *testing.T
	clock   *testkit.Clock
	storage *certmagic.FileStorage
	svc     *Service
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: testkit.NewClock(time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)), storage: &certmagic.FileStorage{Path: t.TempDir()}}
	f.svc = f.service(mod)
	return f
}

// service is another instance on the fixture's storage and clock.
func (f *fixture) service(mod func(*Config)) *Service {
	f.t.Helper()
	cfg := Config{RPID: rpID, RPName: "Example", Origins: []string{origin}, Now: f.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg, f.storage, "jwt/passkey")
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register registers a passkey for identity on auth and returns it.
func (f *fixture) register(svc *Service, auth *testkit.Authenticator, identity string) *testkit.SoftCredential {
	f.t.Helper()
	begin, err := svc.BeginRegistration(context.Background(), "example.com", identity)
	if err != nil {
		f.t.Fatal(err)
	}
	bj := mustJSON(f.t, begin)
	cred, soft, err := auth.Create(bj, testkit.Client{Origin: origin})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := svc.FinishRegistration(context.Background(), identity, map[string]any{"role": identity}, testkit.FinishBody(bj, cred, map[string]any{"name": "laptop"})); err != nil {
		f.t.Fatalf("registering: %v", err)
	}
	return soft
}

// login runs a discoverable sign-in with client c.
func (f *fixture) login(svc *Service, auth *testkit.Authenticator, c testkit.Client) (*Assertion, error) {
	f.t.Helper()
	begin, err := svc.BeginLogin(context.Background(), "example.com")
	if err != nil {
		f.t.Fatal(err)
	}
	bj := mustJSON(f.t, begin)
	if c.Origin == "" {
		c.Origin = origin
	}
	cred, err := auth.Get(bj, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return svc.FinishLogin(context.Background(), testkit.FinishBody(bj, cred, nil))
}

func wantRefused(t *testing.T, err error, status int, cause string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error %d", err, status)
	}
	if e.Status != status || !strings.Contains(e.Error(), cause) {
		t.Fatalf("got %d %q, want %d with %q", e.Status, e.Error(), status, cause)
	}
	return e
}

func TestRegisterLoginReauth(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	auth.BackupEligible = true
	soft := f.register(f.svc, auth, alice)

	creds, err := f.svc.Credentials(context.Background(), alice)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials: %v %v", creds, err)
	}
	c := creds[0]
	if c.EncodedID() != soft.EncodedID() || c.Name != "laptop" || !c.BackupEligible || c.BackedUp || !c.UserVerified ||
		string(c.AAGUID) != string(auth.AAGUID[:]) || len(c.Transports) != 1 || c.Transports[0] != "internal" ||
		!c.Created.Equal(f.clock.Now()) || c.Claims["role"] != alice || c.AttestationFormat != "none" {
		t.Fatalf("stored credential: %+v", c)
	}
	// the user handle is random, never the username
	if string(soft.UserHandle) == alice || len(soft.UserHandle) != userHandleBytes {
		t.Fatalf("user handle %q", soft.UserHandle)
	}

	f.clock.Advance(time.Minute)
	a, err := f.login(f.svc, auth, testkit.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Identity != alice || !a.UserVerified || a.Credential.SignCount != 1 || !a.Credential.LastUsed.Equal(f.clock.Now()) {
		t.Fatalf("assertion: %+v", a)
	}

	begin, err := f.svc.BeginReauth(context.Background(), "example.com", alice)
	if err != nil {
		t.Fatal(err)
	}
	bj := mustJSON(t, begin)
	var opts struct {
		PublicKey struct {
			AllowCredentials []struct{ ID string } `json:"allowCredentials"`
			UserVerification string                `json:"userVerification"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(bj, &opts)
	if len(opts.PublicKey.AllowCredentials) != 1 || opts.PublicKey.AllowCredentials[0].ID != soft.EncodedID() || opts.PublicKey.UserVerification != "required" {
		t.Fatalf("reauth options: %s", bj)
	}
	cred, err := auth.Get(bj, testkit.Client{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	a, err = f.svc.FinishReauth(context.Background(), alice, testkit.FinishBody(bj, cred, nil))
	if err != nil || a.Identity != alice || a.Credential.SignCount != 2 {
		t.Fatalf("reauth: %+v %v", a, err)
	}
}

func TestBeginAnswerIsTheJSONFormOfTheOptions(t *testing.T) {
	f := newFixture(t, nil)
	begin, err := f.svc.BeginRegistration(context.Background(), "example.com", alice)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct{ ID, Name string }
			User      struct{ ID, Name string }
			Timeout   int `json:"timeout"`
			Sel       struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string `json:"attestation"`
		} `json:"publicKey"`
		Ceremony string `json:"ceremony"`
	}
	if err := json.Unmarshal(mustJSON(t, begin), &got); err != nil {
		t.Fatal(err)
	}
	pk := got.PublicKey
	ch, err := base64.RawURLEncoding.DecodeString(pk.Challenge)
	if err != nil || len(ch) < 16 {
		t.Fatalf("challenge %q is not base64url of at least 16 bytes", pk.Challenge)
	}
	if pk.RP.ID != rpID || pk.RP.Name != "Example" || pk.User.Name != alice || pk.Timeout != 120000 ||
		pk.Sel.ResidentKey != "required" || pk.Sel.UserVerification != "required" || pk.Attestation != "none" || got.Ceremony == "" {
		t.Fatalf("begin answer: %+v", got)
	}
	if _, err := base64.RawURLEncoding.DecodeString(pk.User.ID); err != nil || pk.User.ID == alice {
		t.Fatalf("user.id %q", pk.User.ID)
	}
	// the ceremony is in storage under jwt/passkey/ceremonies, not in the answer
	keys, err := f.storage.List(context.Background(), "jwt/passkey/ceremonies", true)
	if err != nil || len(keys) == 0 {
		t.Fatalf("ceremonies in storage: %v %v", keys, err)
	}
	if strings.Contains(string(mustJSON(t, begin)), "expires") {
		t.Fatal("the begin answer carries the ceremony's state")
	}
}

func TestAssertionRefusals(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	f.register(f.svc, auth, alice)
	for _, tc := range []struct {
		name   string
		client testkit.Client
		cause  string
	}{
		{"wrong origin", testkit.Client{Origin: "https://evil.example"}, "origin"},
		{"wrong RP ID", testkit.Client{RPID: "evil.example"}, "RP Hash mismatch"},
		{"user verification missing", testkit.Client{NoUV: true}, "verif"},
		{"challenge of another ceremony", testkit.Client{Challenge: base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123"))}, "challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.login(f.svc, auth, tc.client)
			e := wantRefused(t, err, http.StatusUnauthorized, tc.cause)
			if e.Identity != alice {
				t.Fatalf("the refusal names identity %q, want alice", e.Identity)
			}
		})
	}
}

func TestRegistrationRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client testkit.Client
		cause  string
	}{
		{"wrong origin", testkit.Client{Origin: "https://evil.example"}, "origin"},
		{"wrong RP ID", testkit.Client{Origin: origin, RPID: "evil.example"}, "RP Hash mismatch"},
		{"user verification missing", testkit.Client{Origin: origin, NoUV: true}, "verif"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			begin, err := f.svc.BeginRegistration(context.Background(), "example.com", alice)
			if err != nil {
				t.Fatal(err)
			}
			bj := mustJSON(t, begin)
			cred, _, err := testkit.NewAuthenticator().Create(bj, tc.client)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishRegistration(context.Background(), alice, nil, testkit.FinishBody(bj, cred, nil))
			wantRefused(t, err, http.StatusUnprocessableEntity, tc.cause)
			if creds, _ := f.svc.Credentials(context.Background(), alice); len(creds) != 0 {
				t.Fatalf("a refused registration stored %d credentials", len(creds))
			}
		})
	}
}

func TestUserVerificationPreferred(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.UserVerification = VerificationPreferred })
	auth := testkit.NewAuthenticator()
	auth.Verifies = false
	f.register(f.svc, auth, alice)
	a, err := f.login(f.svc, auth, testkit.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if a.UserVerified {
		t.Fatal("an assertion without UV reads as verified")
	}
}

func TestCeremonyAtMostOnceAndExpiry(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	f.register(f.svc, auth, alice)
	ctx := context.Background()

	t.Run("finished twice", func(t *testing.T) {
		begin, _ := f.svc.BeginLogin(ctx, "example.com")
		bj := mustJSON(t, begin)
		cred, _ := auth.Get(bj, testkit.Client{Origin: origin})
		body := testkit.FinishBody(bj, cred, nil)
		if _, err := f.svc.FinishLogin(ctx, body); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.FinishLogin(ctx, body)
		wantRefused(t, err, http.StatusBadRequest, "no such ceremony")
	})
	t.Run("replayed after a failure", func(t *testing.T) {
		begin, _ := f.svc.BeginLogin(ctx, "example.com")
		bj := mustJSON(t, begin)
		bad, _ := auth.Get(bj, testkit.Client{Origin: "https://evil.example"})
		if _, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, bad, nil)); err == nil {
			t.Fatal("wrong origin accepted")
		}
		good, _ := auth.Get(bj, testkit.Client{Origin: origin})
		_, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, good, nil))
		wantRefused(t, err, http.StatusBadRequest, "no such ceremony")
	})
	t.Run("expired", func(t *testing.T) {
		begin, _ := f.svc.BeginLogin(ctx, "example.com")
		bj := mustJSON(t, begin)
		cred, _ := auth.Get(bj, testkit.Client{Origin: origin})
		f.clock.Advance(DefaultCeremonyTTL)
		_, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, cred, nil))
		wantRefused(t, err, http.StatusBadRequest, "expired")
	})
	t.Run("just before expiry", func(t *testing.T) {
		begin, _ := f.svc.BeginLogin(ctx, "example.com")
		bj := mustJSON(t, begin)
		cred, _ := auth.Get(bj, testkit.Client{Origin: origin})
		f.clock.Advance(DefaultCeremonyTTL - time.Second)
		if _, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, cred, nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("of another kind", func(t *testing.T) {
		begin, _ := f.svc.BeginReauth(ctx, "example.com", alice)
		bj := mustJSON(t, begin)
		cred, _ := auth.Get(bj, testkit.Client{Origin: origin})
		_, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, cred, nil))
		wantRefused(t, err, http.StatusBadRequest, "reauth ceremony was finished as login")
	})
	t.Run("unknown id", func(t *testing.T) {
		_, err := f.svc.FinishLogin(ctx, []byte(`{"ceremony":"nope"}`))
		wantRefused(t, err, http.StatusBadRequest, "not one of ours")
	})
	t.Run("no id", func(t *testing.T) {
		_, err := f.svc.FinishLogin(ctx, []byte(`{"id":"x"}`))
		wantRefused(t, err, http.StatusBadRequest, "no ceremony")
	})
}

// Of many finishes of one ceremony at once, on two instances sharing the
// storage, exactly one succeeds.
func TestCeremonyOnceAcrossInstances(t *testing.T) {
	f := newFixture(t, nil)
	other := f.service(nil)
	auth := testkit.NewAuthenticator()
	f.register(f.svc, auth, alice)
	ctx := context.Background()
	begin, _ := f.svc.BeginLogin(ctx, "example.com")
	bj := mustJSON(t, begin)
	cred, _ := auth.Get(bj, testkit.Client{Origin: origin})
	body := testkit.FinishBody(bj, cred, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := f.svc
			if i%2 == 1 {
				svc = other
			}
			if _, err := svc.FinishLogin(ctx, body); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d finishes succeeded, want 1", ok)
	}
}

// A ceremony begun on one instance finishes on another sharing storage:
// registration, sign-in and step-up.
func TestCeremoniesAcrossInstances(t *testing.T) {
	f := newFixture(t, nil)
	other := f.service(nil)
	auth := testkit.NewAuthenticator()
	ctx := context.Background()
	begin, _ := f.svc.BeginRegistration(ctx, "example.com", alice)
	bj := mustJSON(t, begin)
	cred, _, _ := auth.Create(bj, testkit.Client{Origin: origin})
	if _, err := other.FinishRegistration(ctx, alice, nil, testkit.FinishBody(bj, cred, nil)); err != nil {
		t.Fatal(err)
	}
	begin, _ = other.BeginLogin(ctx, "example.com")
	bj = mustJSON(t, begin)
	cred, _ = auth.Get(bj, testkit.Client{Origin: origin})
	if a, err := f.svc.FinishLogin(ctx, testkit.FinishBody(bj, cred, nil)); err != nil || a.Identity != alice {
		t.Fatal(a, err)
	}
	begin, _ = f.svc.BeginReauth(ctx, "example.com", alice)
	bj = mustJSON(t, begin)
	cred, _ = auth.Get(bj, testkit.Client{Origin: origin})
	if _, err := other.FinishReauth(ctx, alice, testkit.FinishBody(bj, cred, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestSignCountBackwards(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	soft := f.register(f.svc, auth, alice)
	for range 3 {
		if _, err := f.login(f.svc, auth, testkit.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	// a clone that signs with counter 2 (3 is stored)
	auth.SetSignCount(soft, 1)
	_, err := f.login(f.svc, auth, testkit.Client{})
	e := wantRefused(t, err, http.StatusUnauthorized, "counter")
	var sc *SignCountError
	if !errors.Is(err, ErrSignCount) || !errors.As(err, &sc) || sc.Stored != 3 || sc.Got != 2 || sc.Identity != alice || e.Identity != alice {
		t.Fatalf("sign count refusal: %#v", err)
	}
	// the same count again is refused too; a higher one passes
	auth.SetSignCount(soft, 2)
	if _, err := f.login(f.svc, auth, testkit.Client{}); !errors.Is(err, ErrSignCount) {
		t.Fatalf("an equal counter: %v", err)
	}
	auth.SetSignCount(soft, 10)
	if a, err := f.login(f.svc, auth, testkit.Client{}); err != nil || a.Credential.SignCount != 11 {
		t.Fatal(a, err)
	}
}

// Authenticators that keep no counter send 0 every time: accepted.
func TestSignCountZeroAlways(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	soft := f.register(f.svc, auth, alice)
	for range 2 {
		auth.SetSignCount(soft, ^uint32(0)) // the next assertion wraps to 0
		if _, err := f.login(f.svc, auth, testkit.Client{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReauthWithAnotherIdentitysCredential(t *testing.T) {
	f := newFixture(t, nil)
	aliceAuth, bobAuth := testkit.NewAuthenticator(), testkit.NewAuthenticator()
	f.register(f.svc, aliceAuth, alice)
	bobCred := f.register(f.svc, bobAuth, bob)
	ctx := context.Background()
	begin, _ := f.svc.BeginReauth(ctx, "example.com", alice)
	bj := mustJSON(t, begin)
	cred, err := bobAuth.Get(bj, testkit.Client{Origin: origin, Credential: bobCred})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.FinishReauth(ctx, alice, testkit.FinishBody(bj, cred, nil))
	wantRefused(t, err, http.StatusUnauthorized, "not registered for the identity")

	// and a reauth ceremony of alice's cannot be finished as bob's session
	begin, _ = f.svc.BeginReauth(ctx, "example.com", alice)
	bj = mustJSON(t, begin)
	cred, _ = aliceAuth.Get(bj, testkit.Client{Origin: origin})
	_, err = f.svc.FinishReauth(ctx, bob, testkit.FinishBody(bj, cred, nil))
	wantRefused(t, err, http.StatusBadRequest, "another identity")

	// nor a registration ceremony of alice's as bob's
	begin, _ = f.svc.BeginRegistration(ctx, "example.com", alice)
	bj = mustJSON(t, begin)
	created, _, _ := bobAuth.Create(bj, testkit.Client{Origin: origin})
	_, err = f.svc.FinishRegistration(ctx, bob, nil, testkit.FinishBody(bj, created, nil))
	wantRefused(t, err, http.StatusBadRequest, "another identity")
}

func TestReauthWithoutPasskey(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.svc.BeginReauth(context.Background(), "example.com", alice)
	wantRefused(t, err, http.StatusBadRequest, "no passkey")
}

func TestRemove(t *testing.T) {
	f := newFixture(t, nil)
	aliceAuth, bobAuth := testkit.NewAuthenticator(), testkit.NewAuthenticator()
	aliceCred := f.register(f.svc, aliceAuth, alice)
	bobCred := f.register(f.svc, bobAuth, bob)
	ctx := context.Background()
	// another identity's credential: 404, and it stays
	wantRefused(t, f.svc.Remove(ctx, alice, bobCred.EncodedID()), http.StatusNotFound, "no such passkey")
	if creds, _ := f.svc.Credentials(ctx, bob); len(creds) != 1 {
		t.Fatal("bob's passkey is gone")
	}
	wantRefused(t, f.svc.Remove(ctx, alice, "%%%"), http.StatusNotFound, "base64url")
	if err := f.svc.Remove(ctx, alice, aliceCred.EncodedID()); err != nil {
		t.Fatal(err)
	}
	if creds, _ := f.svc.Credentials(ctx, alice); len(creds) != 0 {
		t.Fatalf("still listed: %v", creds)
	}
	// a removed credential can no longer sign in
	_, err := f.login(f.svc, aliceAuth, testkit.Client{})
	wantRefused(t, err, http.StatusUnauthorized, "not registered")
	if f.storage.Exists(ctx, "jwt/passkey/credentials/"+aliceCred.EncodedID()) {
		t.Fatal("the credential index entry is left")
	}
	// and it can be registered again
	f.register(f.svc, aliceAuth, alice)
}

func TestRegisterTwiceIsExcludedAndRefused(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	soft := f.register(f.svc, auth, alice)
	ctx := context.Background()
	begin, _ := f.svc.BeginRegistration(ctx, "example.com", alice)
	var opts struct {
		PublicKey struct {
			Exclude []struct{ ID string } `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(mustJSON(t, begin), &opts)
	if len(opts.PublicKey.Exclude) != 1 || opts.PublicKey.Exclude[0].ID != soft.EncodedID() {
		t.Fatalf("excludeCredentials: %+v", opts.PublicKey.Exclude)
	}
	// bob tries to register alice's credential id under his name with a
	// credential of his own: the id the client reports is not the attested
	// one, and the registration is refused
	begin, _ = f.svc.BeginRegistration(ctx, "example.com", bob)
	bj := mustJSON(t, begin)
	other := testkit.NewAuthenticator()
	cred, _, _ := other.Create(bj, testkit.Client{Origin: origin})
	cred["id"], cred["rawId"] = soft.EncodedID(), soft.EncodedID()
	_, err := f.svc.FinishRegistration(ctx, bob, nil, testkit.FinishBody(bj, cred, nil))
	wantRefused(t, err, http.StatusUnprocessableEntity, "attested credential id")
	if creds, _ := f.svc.Credentials(ctx, bob); len(creds) != 0 {
		t.Fatalf("bob has %d passkeys", len(creds))
	}
}

func TestRelyingPartyFromHost(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RPID, c.Origins, c.RPName = "", nil, "" })
	ctx := context.Background()
	begin, err := f.svc.BeginLogin(ctx, "Login.Example.com:8443")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RPID string `json:"rpId"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(mustJSON(t, begin), &o)
	if o.PublicKey.RPID != "login.example.com" {
		t.Fatalf("rpId %q", o.PublicKey.RPID)
	}
	// the default origin is https://<rp_id>
	auth := testkit.NewAuthenticator()
	rb, _ := f.svc.BeginRegistration(ctx, "login.example.com", alice)
	bj := mustJSON(t, rb)
	cred, _, _ := auth.Create(bj, testkit.Client{Origin: "https://login.example.com:8443"})
	_, err = f.svc.FinishRegistration(ctx, alice, nil, testkit.FinishBody(bj, cred, nil))
	wantRefused(t, err, http.StatusUnprocessableEntity, "origin")
	for _, host := range []string{"127.0.0.1:80", "[::1]:443", "127.0.0.1", "[::1]", ""} {
		_, err := f.svc.BeginLogin(ctx, host)
		wantRefused(t, err, http.StatusBadRequest, "relying party")
	}
}

func TestNames(t *testing.T) {
	f := newFixture(t, nil)
	auth := testkit.NewAuthenticator()
	ctx := context.Background()
	for _, bad := range []any{"", " pad", strings.Repeat("x", 65), "a\nb", 3} {
		begin, _ := f.svc.BeginRegistration(ctx, "example.com", alice)
		bj := mustJSON(t, begin)
		cred, _, _ := auth.Create(bj, testkit.Client{Origin: origin})
		_, err := f.svc.FinishRegistration(ctx, alice, nil, testkit.FinishBody(bj, cred, map[string]any{"name": bad}))
		wantRefused(t, err, http.StatusBadRequest, "bad passkey name")
	}
	begin, _ := f.svc.BeginRegistration(ctx, "example.com", alice)
	bj := mustJSON(t, begin)
	cred, _, _ := auth.Create(bj, testkit.Client{Origin: origin})
	c, err := f.svc.FinishRegistration(ctx, alice, nil, testkit.FinishBody(bj, cred, nil))
	if err != nil || c.Name != "Passkey 2026-05-10" {
		t.Fatal(c, err)
	}
}

func TestSweep(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.svc.BeginLogin(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.storage.List(ctx, "jwt/passkey/ceremonies", false); len(keys) != 1 {
		t.Fatalf("a live ceremony was swept: %v", keys)
	}
	f.clock.Advance(3 * time.Hour)
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.storage.List(ctx, "jwt/passkey/ceremonies", false); len(keys) != 0 {
		t.Fatalf("an old ceremony was kept: %v", keys)
	}
}

func TestConfigRefusesUserVerification(t *testing.T) {
	if _, err := New(Config{UserVerification: "discouraged"}, &certmagic.FileStorage{Path: t.TempDir()}, "jwt/passkey"); err == nil {
		t.Fatal("discouraged accepted")
	}
}
