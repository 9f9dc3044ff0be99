package passkey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// The kinds of ceremony.
const (
	kindRegister = "register"
	kindLogin    = "login"
	kindReauth   = "reauth"
)

// ceremonyBucketLayout names the folder of a ceremony: the UTC hour of
// its expiry, so that Sweep deletes whole folders.
const ceremonyBucketLayout = "2006010215"

// ceremonySweepGrace keeps a folder this long after its hour, so that an
// instance whose clock runs behind still finds its ceremonies.
const ceremonySweepGrace = time.Hour

// ceremony is a begun ceremony as storage keeps it.
type ceremony struct {
	Kind    string               `json:"kind"`
	RPID    string               `json:"rp_id"`
	Origins []string             `json:"origins"`
	Session webauthn.SessionData `json:"session"`
	// Identity is the identity of a register or reauth ceremony.
	Identity string    `json:"identity,omitempty"`
	Expires  time.Time `json:"expires"`
}

// ceremonyKey is the storage key of the ceremony with the given id
// ("<bucket>.<random>"); "" when id is not one this package makes.
func (s *Service) ceremonyKey(id string) string {
	bucket, random, ok := strings.Cut(id, ".")
	if !ok || len(bucket) != len(ceremonyBucketLayout) || len(random) != 43 {
		return ""
	}
	if _, err := time.Parse(ceremonyBucketLayout, bucket); err != nil {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(random); err != nil {
		return ""
	}
	return s.prefix + "/ceremonies/" + bucket + "/" + hexHash(random)
}

// begin stores a ceremony and returns its id.
func (s *Service) begin(ctx context.Context, c *ceremony) (string, error) {
	c.Expires = s.cfg.Now().Add(s.cfg.CeremonyTTL)
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	id := c.Expires.UTC().Format(ceremonyBucketLayout) + "." + base64.RawURLEncoding.EncodeToString(random)
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := s.store.s.Store(ctx, s.ceremonyKey(id), b); err != nil {
		return "", fmt.Errorf("storing a passkey ceremony: %w", err)
	}
	return id, nil
}

// take finishes a ceremony: under its lock, it reads and deletes it, so
// that of any number of finishes on any instance sharing the storage, one
// gets it. It is refused when unknown, already taken, expired or of
// another kind.
func (s *Service) take(ctx context.Context, id, kind string) (*ceremony, error) {
	key := s.ceremonyKey(id)
	if key == "" {
		return nil, newError(http.StatusBadRequest, MsgCeremony, "the ceremony id is not one of ours")
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	st := s.store.s
	if err := st.Lock(ctx, key); err != nil {
		return nil, internal(fmt.Errorf("locking a passkey ceremony: %w", err))
	}
	defer func() {
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
		defer ucancel()
		_ = st.Unlock(uctx, key)
	}()
	b, err := st.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newError(http.StatusBadRequest, MsgCeremony, "no such ceremony: never begun, already finished or swept")
	}
	if err != nil {
		return nil, internal(fmt.Errorf("loading a passkey ceremony: %w", err))
	}
	if err := st.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, internal(fmt.Errorf("deleting a passkey ceremony: %w", err))
	}
	var c ceremony
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, internal(fmt.Errorf("reading a passkey ceremony: %w", err))
	}
	switch {
	case !s.cfg.Now().Before(c.Expires):
		return nil, newError(http.StatusBadRequest, MsgCeremony, "the ceremony expired at %s", c.Expires.UTC().Format(time.RFC3339))
	case c.Kind != kind:
		return nil, newError(http.StatusBadRequest, MsgCeremony, "a %s ceremony was finished as %s", c.Kind, kind)
	}
	return &c, nil
}

// Sweep deletes the folders of ceremonies that expired more than an hour
// ago (begun and never finished).
func (s *Service) Sweep(ctx context.Context) error {
	prefix := s.prefix + "/ceremonies"
	keys, err := s.store.s.List(ctx, prefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing passkey ceremonies: %w", err)
	}
	cutoff := s.cfg.Now().Add(-time.Hour - ceremonySweepGrace)
	var errs []error
	for _, key := range keys {
		t, err := time.Parse(ceremonyBucketLayout, path.Base(key))
		if err != nil || !t.Before(cutoff) {
			continue
		}
		if err := s.store.s.Delete(ctx, prefix+"/"+path.Base(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting old passkey ceremonies: %w", errors.Join(errs...))
	}
	return nil
}
