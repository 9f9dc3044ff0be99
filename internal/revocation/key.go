package revocation

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"time"
)

const (
	// keyPrefix is the storage folder of the layout of earlier versions,
	// written and listed only while one may share the storage (the legacy
	// hold, sync.go). Each key is
	//
	//	jwt/revoked/<bucket>/<hex sha256 of the id>.<exp unix seconds>
	//
	// The id is hashed because it is text a client chose; the expiry is in
	// the name so that reading a bucket only lists it; the bucket is the
	// UTC minute of the revocation (20060102T1504).
	keyPrefix    = "jwt/revoked"
	bucketLayout = "20060102T1504"
)

// entryKey is the storage key of a revocation made at the time at.
func entryKey(sum [sha256.Size]byte, exp int64, at time.Time) string {
	return bucketKey(at) + "/" + hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(exp, 10)
}

// bucketKey is the storage key of the bucket of the time at.
func bucketKey(at time.Time) string {
	return keyPrefix + "/" + at.UTC().Format(bucketLayout)
}

// parseEntryKey reads a storage key written by entryKey.
func parseEntryKey(key string) (entry, bool) {
	var e entry
	name := path.Base(key)
	h, expText, ok := strings.Cut(name, ".")
	if !ok || len(h) != 2*sha256.Size {
		return e, false
	}
	if _, err := hex.Decode(e.sum[:], []byte(h)); err != nil {
		return e, false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || exp <= 0 || expText[0] == '+' {
		return e, false
	}
	e.exp = exp
	return e, true
}

// parseBucketKey reads the time of a bucket key.
func parseBucketKey(key string) (time.Time, bool) {
	dir, name := path.Split(key)
	if dir != keyPrefix+"/" {
		return time.Time{}, false
	}
	t, err := time.Parse(bucketLayout, name)
	return t, err == nil
}
