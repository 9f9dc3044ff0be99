package keys

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"go.uber.org/zap"
)

// Snapshot is an immutable view of the trusted keys. It is swapped
// atomically when a remote JWK Set changes, so the request path reads it
// without locks.
type Snapshot struct {
	byKID map[string]*jws.Key
	// noKID holds the keys tried, in order, for a token whose header has
	// no kid: the local keys (a handful at most). Keys of remote JWK Sets
	// are only ever selected by kid.
	noKID []*jws.Key
	// ring is asked for a refresh of remote JWK Sets on an unknown kid;
	// nil when there are none.
	ring *Ring
}

// Ring holds the app's signing key and every trusted verification key.
type Ring struct {
	signer *jws.Signer
	// signerKey is the signer's verification half: a token it verified
	// was issued here.
	signerKey *jws.Key
	// signErr says why there is no signer (a verify-only configuration).
	signErr error
	// verifyOnlyAlg is the algorithm of a verify-only configuration, which
	// binds its public_key keys; "" when a key signs or none is set.
	verifyOnlyAlg string
	// extra holds the verification-only secrets while loading; own keeps
	// them: this configuration's own earlier secrets, whose tokens were
	// minted here too (rotation).
	extra, own []*jws.Key
	snap       atomic.Pointer[Snapshot]

	// local keys, in configuration order; they win over remote ones.
	local []*jws.Key
	// jwks is the precomputed JWK Set of the local public keys.
	jwks []byte

	// remote JWK Sets (jwks_url); see jwks.go.
	remotes []*jwksSource
	mu      sync.Mutex // serializes snapshot rebuilds; never taken on the request path
	logger  *zap.Logger
	now     func() time.Time
	refresh time.Duration
	stopBG  func()
	wg      sync.WaitGroup
	// fetched counts each remote JWK Set fetch (metrics); never nil.
	fetched func(ok bool)
	// lastGood keeps the remote sets across reloads and restarts; nil:
	// not kept.
	lastGood LastGood
}

// rebuild recomputes the snapshot from the local keys and the last good
// set of each remote source, then swaps it in. Local keys win a kid
// collision; among remote sources, the first configured wins.
func (k *Ring) rebuild() {
	k.mu.Lock()
	defer k.mu.Unlock()
	snap := &Snapshot{byKID: map[string]*jws.Key{}}
	if len(k.remotes) > 0 {
		snap.ring = k
	}
	for _, vk := range k.local {
		snap.noKID = append(snap.noKID, vk)
		if vk.KID != "" {
			snap.byKID[vk.KID] = vk
		}
	}
	for _, src := range k.remotes {
		for _, vk := range src.current() {
			if prev, dup := snap.byKID[vk.KID]; dup {
				if prev != vk {
					src.logCollision(vk.KID, prev.Source)
				}
				continue
			}
			snap.byKID[vk.KID] = vk
		}
	}
	k.snap.Store(snap)
}

// KeyFor returns the key that verifies a token whose header names kid, or
// nil. The kid only selects among configured keys; it never chooses the
// algorithm or the key type. An unknown kid asks the remote JWK Sets, if
// any, for a refresh in the background (throttled); this request still
// fails.
func (s *Snapshot) KeyFor(kid string) *jws.Key {
	vk := s.byKID[kid]
	if vk == nil && s.ring != nil {
		s.ring.unknownKID()
	}
	return vk
}

// KeysWithoutKID returns the local keys tried, in order, for a token whose
// header has no kid.
func (s *Snapshot) KeysWithoutKID() []*jws.Key { return s.noKID }

// Current returns the keys trusted now. Hold on to it for the whole of one
// verification: a token is checked against one snapshot, and a cache of
// verified tokens is only good while the snapshot is the same.
func (k *Ring) Current() *Snapshot { return k.snap.Load() }

// Signer returns the key that mints tokens, or an error that says why this
// configuration cannot mint (it only verifies).
func (k *Ring) Signer() (*jws.Signer, error) {
	if k.signer == nil {
		return nil, k.signErr
	}
	return k.signer, nil
}

// Signs reports whether key is the signing key's own verification key, or
// one of the further secrets (which signed before a rotation): a token
// verified with it was issued by this configuration, not by another
// trusted issuer (public_key, jwks_url).
func (k *Ring) Signs(key *jws.Key) bool {
	if key == nil {
		return false
	}
	if key == k.signerKey {
		return true
	}
	for _, o := range k.own {
		if key == o {
			return true
		}
	}
	return false
}

// Local returns the configured keys (not those of remote JWK Sets), in
// configuration order.
func (k *Ring) Local() []*jws.Key { return k.local }
