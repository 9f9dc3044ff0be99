package jwtextended

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// The last good set of each jwks_url outlives one config (issue 12,
// finding 7): during an identity provider outage, a `caddy reload` or a
// restart must not drop the keys that verified a minute before.
//
//   - In memory, jwksLastGood holds one entry per URL, shared by every App
//     that names the URL: during a reload the new App is provisioned while
//     the old one still holds the entry, so the new App starts with the
//     old one's set.
//   - In Caddy's storage, at jwksStorageKey(url), the set is kept as it was
//     fetched, with its URL, written when a fetch installs a changed set
//     and read at Provision when the memory holds nothing for the URL (a
//     restart).
//
// Either way the keys package checks the set exactly like a fetched one,
// and a set is only ever used for its own URL.
var jwksLastGood = caddy.NewUsagePool()

// jwksStoragePrefix is where the last good sets are kept in storage.
const jwksStoragePrefix = "jwt/jwks/"

// jwksStorageTimeout bounds one read or write of a kept set.
const jwksStorageTimeout = 10 * time.Second

// jwksStorageKey is the storage key of url's last good set: a hash, so
// that any URL makes one flat, safe key.
func jwksStorageKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return jwksStoragePrefix + hex.EncodeToString(sum[:]) + ".json"
}

// jwksPoolKey names url's entry in jwksLastGood.
func jwksPoolKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "jwt.jwks." + hex.EncodeToString(sum[:])
}

// keptJWKS is the stored form of a last good set: the set as fetched and
// the URL it was fetched from, checked on reading.
type keptJWKS struct {
	URL   string          `json:"url"`
	Saved time.Time       `json:"saved"`
	JWKS  json.RawMessage `json:"jwks"`
}

// lastGoodEntry is url's entry in jwksLastGood.
type lastGoodEntry struct {
	url string
	set atomic.Pointer[[]byte]
}

// Destruct implements caddy.Destructor; the entry holds nothing to close.
func (*lastGoodEntry) Destruct() error { return nil }

// jwksKeeper is one App's keys.LastGood: its share of the memory entries
// of its URLs, and its storage.
type jwksKeeper struct {
	storage  certmagic.Storage
	logger   *zap.Logger
	entries  map[string]*lastGoodEntry
	released sync.Once
}

// openJWKSKeeper joins the memory entries of urls (creating those no App
// holds yet) on storage (nil: memory only). Release it in Cleanup.
func openJWKSKeeper(storage certmagic.Storage, urls []string, logger *zap.Logger) (*jwksKeeper, error) {
	k := &jwksKeeper{storage: storage, logger: logger, entries: map[string]*lastGoodEntry{}}
	for _, u := range urls {
		if _, dup := k.entries[u]; dup {
			continue
		}
		v, _, err := jwksLastGood.LoadOrNew(jwksPoolKey(u), func() (caddy.Destructor, error) {
			return &lastGoodEntry{url: u}, nil
		})
		if err != nil {
			k.release()
			return nil, err
		}
		e := v.(*lastGoodEntry)
		if e.url != u { // a hash collision: never hand one URL's set to another
			_, _ = jwksLastGood.Delete(jwksPoolKey(u))
			k.release()
			return nil, errors.New("jwt: jwks_url " + u + " collides with " + e.url + " in the JWK Set cache")
		}
		k.entries[u] = e
	}
	return k, nil
}

// Load implements keys.LastGood: the set in memory, else the one in
// storage (which then is in memory for the Apps that follow).
func (k *jwksKeeper) Load(url string) []byte {
	e := k.entries[url]
	if e == nil {
		return nil
	}
	if p := e.set.Load(); p != nil {
		return *p
	}
	set := k.readStored(url)
	if set != nil {
		e.set.CompareAndSwap(nil, &set)
	}
	return set
}

// readStored reads url's kept set from storage, or nil.
func (k *jwksKeeper) readStored(url string) []byte {
	if k.storage == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), jwksStorageTimeout)
	defer cancel()
	key := jwksStorageKey(url)
	data, err := k.storage.Load(ctx, key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			k.logger.Warn("reading the kept JWK Set from storage failed; waiting for the first fetch",
				zap.String("jwks_url", url), zap.String("key", key), zap.Error(err))
		}
		return nil
	}
	var kept keptJWKS
	if err := json.Unmarshal(data, &kept); err != nil || kept.URL != url || len(kept.JWKS) == 0 {
		k.logger.Warn("ignoring a kept JWK Set in storage that is not this URL's",
			zap.String("jwks_url", url), zap.String("key", key), zap.String("kept_for", kept.URL), zap.NamedError("parse_error", err))
		return nil
	}
	return kept.JWKS
}

// Save implements keys.LastGood: url's set in memory, then in storage.
// A storage error is logged; the set stays in memory.
func (k *jwksKeeper) Save(url string, set []byte) {
	e := k.entries[url]
	if e == nil {
		return
	}
	e.set.Store(&set)
	if k.storage == nil {
		return
	}
	data, err := json.Marshal(keptJWKS{URL: url, Saved: time.Now().UTC(), JWKS: set})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), jwksStorageTimeout)
		defer cancel()
		err = k.storage.Store(ctx, jwksStorageKey(url), data)
	}
	if err != nil {
		k.logger.Warn("keeping the JWK Set in storage failed; a restart during an outage of the identity provider will start without it",
			zap.String("jwks_url", url), zap.String("key", jwksStorageKey(url)), zap.Error(err))
	}
}

// release leaves the memory entries; an entry is dropped when its last
// App leaves. It is idempotent.
func (k *jwksKeeper) release() {
	k.released.Do(func() {
		for u := range k.entries {
			_, _ = jwksLastGood.Delete(jwksPoolKey(u))
		}
	})
}

// Interface guards
var (
	_ keys.LastGood    = (*jwksKeeper)(nil)
	_ caddy.Destructor = (*lastGoodEntry)(nil)
)
