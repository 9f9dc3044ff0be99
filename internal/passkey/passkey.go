package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/certmagic"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// DefaultCeremonyTTL is how long a begun ceremony can be finished.
const DefaultCeremonyTTL = 2 * time.Minute

// The values of Config.UserVerification.
const (
	VerificationRequired  = "required"
	VerificationPreferred = "preferred"
)

// maxNameLen bounds a passkey's name, in characters.
const maxNameLen = 64

// Config is the relying party and the ceremonies' settings.
type Config struct {
	// RPID is the relying party id (a domain); "" takes the request's
	// host, without its port.
	RPID string
	// RPName is the name authenticators show; "" takes the RP ID.
	RPName string
	// Origins are the origins the browser may run a ceremony from; none
	// takes https://<RP ID>.
	Origins []string
	// UserVerification is VerificationRequired (default) or
	// VerificationPreferred.
	UserVerification string
	// CeremonyTTL is how long a begun ceremony can be finished; 0 takes
	// DefaultCeremonyTTL.
	CeremonyTTL time.Duration
	// Now is the clock; nil takes time.Now.
	Now func() time.Time
}

// Service runs the ceremonies and keeps the credentials.
type Service struct {
	cfg    Config
	prefix string
	store  *store
	// fixed is the relying party when RPID is set; nil: one per host.
	fixed *webauthn.WebAuthn
}

// New returns a Service keeping its state in s under prefix (for example
// "jwt/passkey").
func New(cfg Config, s certmagic.Storage, prefix string) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = DefaultCeremonyTTL
	}
	switch cfg.UserVerification {
	case "":
		cfg.UserVerification = VerificationRequired
	case VerificationRequired, VerificationPreferred:
	default:
		return nil, fmt.Errorf("user_verification %q must be required or preferred", cfg.UserVerification)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	svc := &Service{cfg: cfg, prefix: prefix, store: &store{s: s, prefix: prefix}}
	if cfg.RPID != "" {
		wa, err := svc.relyingParty(cfg.RPID, svc.origins(cfg.RPID))
		if err != nil {
			return nil, err
		}
		svc.fixed = wa
	}
	return svc, nil
}

func (s *Service) uv() protocol.UserVerificationRequirement {
	if s.cfg.UserVerification == VerificationPreferred {
		return protocol.VerificationPreferred
	}
	return protocol.VerificationRequired
}

func (s *Service) origins(rpID string) []string {
	if len(s.cfg.Origins) > 0 {
		return s.cfg.Origins
	}
	return []string{"https://" + rpID}
}

// relyingParty builds go-webauthn's relying party.
func (s *Service) relyingParty(rpID string, origins []string) (*webauthn.WebAuthn, error) {
	name := s.cfg.RPName
	if name == "" {
		name = rpID
	}
	yes := true
	return webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: name, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &yes, ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: s.uv(),
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: s.cfg.CeremonyTTL, TimeoutUVD: s.cfg.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: s.cfg.CeremonyTTL, TimeoutUVD: s.cfg.CeremonyTTL},
		},
	})
}

// forHost is the relying party of a ceremony begun on host (a request's
// Host, port and all).
func (s *Service) forHost(host string) (*webauthn.WebAuthn, error) {
	if s.fixed != nil {
		return s.fixed, nil
	}
	rpID := HostName(host)
	if err := protocol.ValidateRPID(rpID); err != nil || net.ParseIP(rpID) != nil {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "the host %q cannot be a relying party id (set rp_id)", rpID)
	}
	wa, err := s.relyingParty(rpID, s.origins(rpID))
	if err != nil {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "the host %q cannot be a relying party: %v", rpID, err)
	}
	return wa, nil
}

// forCeremony is the relying party a ceremony was begun with.
func (s *Service) forCeremony(c *ceremony) (*webauthn.WebAuthn, error) {
	if s.fixed != nil && s.fixed.Config.RPID == c.RPID {
		return s.fixed, nil
	}
	wa, err := s.relyingParty(c.RPID, c.Origins)
	if err != nil {
		return nil, internal(err)
	}
	return wa, nil
}

// HostName is a request's Host without its port, in lower case.
func HostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Begin is the answer to a begin call: the options for
// PublicKeyCredential.parseCreationOptionsFromJSON or
// parseRequestOptionsFromJSON, and the ceremony's id, which the finish
// call sends back.
type Begin struct {
	PublicKey any    `json:"publicKey"`
	Ceremony  string `json:"ceremony"`
}

// finishFields are the fields a finish body carries besides those of
// PublicKeyCredential.toJSON().
type finishFields struct {
	Ceremony string `json:"ceremony"`
	Name     any    `json:"name"`
}

func readFinish(body []byte) (*finishFields, error) {
	var f finishFields
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "the body is not a JSON object: %v", err)
	}
	if f.Ceremony == "" {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "the body has no ceremony")
	}
	return &f, nil
}

// BeginRegistration begins registering a passkey for identity, from a
// request to host. The identity gets its random user handle on first use.
func (s *Service) BeginRegistration(ctx context.Context, host, identity string) (*Begin, error) {
	wa, err := s.forHost(host)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.handle(ctx, identity)
	if err != nil {
		return nil, internal(err)
	}
	user := webauthnUser{rec}
	exclude := make([]protocol.CredentialDescriptor, 0, len(rec.Credentials))
	for _, c := range user.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := wa.BeginRegistration(user, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, internal(err)
	}
	id, err := s.begin(ctx, &ceremony{Kind: kindRegister, RPID: wa.Config.RPID, Origins: wa.Config.RPOrigins, Session: *session, Identity: identity})
	if err != nil {
		return nil, internal(err)
	}
	return &Begin{PublicKey: creation.Response, Ceremony: id}, nil
}

// FinishRegistration finishes a registration begun for identity: body is
// PublicKeyCredential.toJSON() of the new credential with the fields
// ceremony (the begin answer's) and optionally name. claims are stored
// with the credential. It returns the credential as stored.
func (s *Service) FinishRegistration(ctx context.Context, identity string, claims map[string]any, body []byte) (*Credential, error) {
	f, err := readFinish(body)
	if err != nil {
		return nil, err
	}
	name, err := s.name(f.Name)
	if err != nil {
		return nil, err
	}
	c, err := s.take(ctx, f.Ceremony, kindRegister)
	if err != nil {
		return nil, err
	}
	if c.Identity != identity {
		return nil, newError(http.StatusBadRequest, MsgCeremony, "the ceremony was begun by another identity")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "not a registration credential: %v", describe(err))
	}
	wa, err := s.forCeremony(c)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.load(ctx, identity)
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil {
		return nil, newError(http.StatusUnprocessableEntity, MsgRegistration, "the identity's record is gone")
	}
	made, err := wa.CreateCredential(webauthnUser{rec}, c.Session, parsed)
	if err != nil {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Msg: MsgRegistration, Cause: errors.New(describe(err))}
	}
	cred := Credential{
		ID: made.ID, PublicKey: made.PublicKey, SignCount: made.Authenticator.SignCount,
		BackupEligible: made.Flags.BackupEligible, BackedUp: made.Flags.BackupState, UserVerified: made.Flags.UserVerified,
		AAGUID: made.Authenticator.AAGUID, AttestationFormat: made.AttestationFormat,
		Name: name, Created: s.cfg.Now().UTC(), Claims: claims,
	}
	for _, t := range made.Transport {
		cred.Transports = append(cred.Transports, string(t))
	}
	err = s.store.update(ctx, identity, false, func(rec *record) error {
		if rec == nil {
			return newError(http.StatusUnprocessableEntity, MsgRegistration, "the identity's record is gone")
		}
		key := s.store.credentialKey(cred.ID)
		if s.store.s.Exists(ctx, key) {
			return newError(http.StatusConflict, MsgRegistered, "the credential id is registered already")
		}
		if err := s.store.s.Store(ctx, key, []byte(identity)); err != nil {
			return fmt.Errorf("storing a credential id: %w", err)
		}
		rec.Credentials = append(rec.Credentials, cred)
		return nil
	})
	if err != nil {
		return nil, asError(err)
	}
	return &cred, nil
}

// name checks a passkey's name; a missing one is "Passkey" and the date.
func (s *Service) name(v any) (string, error) {
	if v == nil {
		return "Passkey " + s.cfg.Now().UTC().Format("2006-01-02"), nil
	}
	n, ok := v.(string)
	if !ok || n == "" || utf8.RuneCountInString(n) > maxNameLen || strings.TrimSpace(n) != n {
		return "", newError(http.StatusBadRequest, MsgName, "bad passkey name")
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return "", newError(http.StatusBadRequest, MsgName, "bad passkey name")
		}
	}
	return n, nil
}

// Assertion is a passkey sign-in or step-up that passed every check.
type Assertion struct {
	// Identity is the identity the credential belongs to.
	Identity string
	// Credential is the credential as stored after this use.
	Credential Credential
	// UserVerified: the authenticator verified the user (UV flag).
	UserVerified bool
}

// BeginLogin begins a sign-in with a discoverable credential: no user is
// named, the authenticator offers the passkeys it holds for the RP.
func (s *Service) BeginLogin(ctx context.Context, host string) (*Begin, error) {
	wa, err := s.forHost(host)
	if err != nil {
		return nil, err
	}
	assertion, session, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(s.uv()))
	if err != nil {
		return nil, internal(err)
	}
	id, err := s.begin(ctx, &ceremony{Kind: kindLogin, RPID: wa.Config.RPID, Origins: wa.Config.RPOrigins, Session: *session})
	if err != nil {
		return nil, internal(err)
	}
	return &Begin{PublicKey: assertion.Response, Ceremony: id}, nil
}

// FinishLogin finishes a sign-in: body is PublicKeyCredential.toJSON()
// of the assertion with the field ceremony. The identity comes from the
// credential's user handle. A refusal names the identity in
// Error.Identity when it is known.
func (s *Service) FinishLogin(ctx context.Context, body []byte) (*Assertion, error) {
	f, err := readFinish(body)
	if err != nil {
		return nil, err
	}
	c, err := s.take(ctx, f.Ceremony, kindLogin)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, newError(http.StatusBadRequest, MsgBadRequest, "not an assertion: %v", describe(err))
	}
	rec, err := s.store.byHandle(ctx, parsed.Response.UserHandle)
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil {
		return nil, newError(http.StatusUnauthorized, MsgRejected, "unknown user handle")
	}
	return s.verifyAssertion(ctx, c, rec, parsed, true)
}

// BeginReauth begins a step-up of identity's session, restricted to the
// identity's own passkeys.
func (s *Service) BeginReauth(ctx context.Context, host, identity string) (*Begin, error) {
	wa, err := s.forHost(host)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.load(ctx, identity)
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil || len(rec.Credentials) == 0 {
		return nil, newError(http.StatusBadRequest, MsgNone, "the identity has no passkey")
	}
	assertion, session, err := wa.BeginLogin(webauthnUser{rec}, webauthn.WithUserVerification(s.uv()))
	if err != nil {
		return nil, internal(err)
	}
	id, err := s.begin(ctx, &ceremony{Kind: kindReauth, RPID: wa.Config.RPID, Origins: wa.Config.RPOrigins, Session: *session, Identity: identity})
	if err != nil {
		return nil, internal(err)
	}
	return &Begin{PublicKey: assertion.Response, Ceremony: id}, nil
}

// FinishReauth finishes a step-up of identity's session: the asserting
// credential must be one of identity's.
func (s *Service) FinishReauth(ctx context.Context, identity string, body []byte) (*Assertion, error) {
	f, err := readFinish(body)
	if err != nil {
		return nil, withIdentity(err, identity)
	}
	c, err := s.take(ctx, f.Ceremony, kindReauth)
	if err != nil {
		return nil, withIdentity(err, identity)
	}
	if c.Identity != identity {
		return nil, withIdentity(newError(http.StatusBadRequest, MsgCeremony, "the ceremony was begun by another identity"), identity)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, withIdentity(newError(http.StatusBadRequest, MsgBadRequest, "not an assertion: %v", describe(err)), identity)
	}
	rec, err := s.store.load(ctx, identity)
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil {
		return nil, withIdentity(newError(http.StatusUnauthorized, MsgRejected, "the identity has no passkey"), identity)
	}
	return s.verifyAssertion(ctx, c, rec, parsed, false)
}

// verifyAssertion checks an assertion against the ceremony and the
// identity's record, then records the new sign count and last use.
func (s *Service) verifyAssertion(ctx context.Context, c *ceremony, rec *record, parsed *protocol.ParsedCredentialAssertionData, discoverable bool) (*Assertion, error) {
	refuse := func(format string, args ...any) error {
		return withIdentity(newError(http.StatusUnauthorized, MsgRejected, format, args...), rec.Identity)
	}
	if rec.find(parsed.RawID) < 0 {
		return nil, refuse("the credential is not registered for the identity (removed, or another identity's)")
	}
	wa, err := s.forCeremony(c)
	if err != nil {
		return nil, err
	}
	user := webauthnUser{rec}
	if discoverable {
		_, _, err = wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return user, nil }, c.Session, parsed)
	} else {
		_, err = wa.ValidateLogin(user, c.Session, parsed)
	}
	if err != nil {
		return nil, refuse("%s", describe(err))
	}
	flags := parsed.Response.AuthenticatorData.Flags
	got := parsed.Response.AuthenticatorData.Counter
	var out Credential
	err = s.store.update(ctx, rec.Identity, false, func(cur *record) error {
		i := -1
		if cur != nil && bytes.Equal(cur.Handle, rec.Handle) {
			i = cur.find(parsed.RawID)
		}
		if i < 0 {
			return refuse("the credential was removed meanwhile")
		}
		cred := &cur.Credentials[i]
		if (got != 0 || cred.SignCount != 0) && got <= cred.SignCount {
			return withIdentity(&Error{Status: http.StatusUnauthorized, Msg: MsgRejected, Cause: &SignCountError{
				Identity: rec.Identity, CredentialID: cred.EncodedID(), Stored: cred.SignCount, Got: got,
			}}, rec.Identity)
		}
		cred.SignCount = got
		cred.BackedUp = flags.HasBackupState()
		cred.LastUsed = s.cfg.Now().UTC()
		out = *cred
		return nil
	})
	if err != nil {
		return nil, asError(err)
	}
	return &Assertion{Identity: rec.Identity, Credential: out, UserVerified: flags.HasUserVerified()}, nil
}

// find is the index of the credential with the raw id, or -1.
func (r *record) find(id []byte) int {
	for i := range r.Credentials {
		if bytes.Equal(r.Credentials[i].ID, id) {
			return i
		}
	}
	return -1
}

// Credentials lists identity's passkeys, oldest first.
func (s *Service) Credentials(ctx context.Context, identity string) ([]Credential, error) {
	rec, err := s.store.load(ctx, identity)
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil {
		return nil, nil
	}
	return rec.Credentials, nil
}

// Remove deletes identity's passkey with the id id (base64url, as
// Credential.EncodedID): it can no longer sign in. Another identity's
// passkey, or an unknown one, is a 404.
func (s *Service) Remove(ctx context.Context, identity, id string) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil || len(raw) == 0 {
		return newError(http.StatusNotFound, MsgNotFound, "the id is not base64url")
	}
	err = s.store.update(ctx, identity, false, func(rec *record) error {
		i := -1
		if rec != nil {
			i = rec.find(raw)
		}
		if i < 0 {
			return newError(http.StatusNotFound, MsgNotFound, "the identity has no such passkey")
		}
		rec.Credentials = append(rec.Credentials[:i], rec.Credentials[i+1:]...)
		if err := s.store.s.Delete(ctx, s.store.credentialKey(raw)); err != nil && !errors.Is(err, errNotExist) {
			return fmt.Errorf("deleting a credential id: %w", err)
		}
		return nil
	})
	return asError(err)
}

// describe is go-webauthn's error with its details, for the log.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s := pe.Type + ": " + pe.Details
		if pe.DevInfo != "" {
			s += " (" + pe.DevInfo + ")"
		}
		return s
	}
	return err.Error()
}

// asError makes any error an *Error (a storage failure: 500); nil stays
// nil.
func asError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return internal(err)
}

// withIdentity is a refusal of identity's, for the throttle.
func withIdentity(err error, identity string) error {
	var e *Error
	if errors.As(err, &e) && e.Status < 500 {
		e.Identity = identity
	}
	return err
}
