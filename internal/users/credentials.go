// Package users checks logins: the configured users and users_file (with
// reload), bcrypt comparison that times unknown users like wrong
// passwords, and the throttle of failed logins per user and per client IP.
package users

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is bcrypt's limit: it silently ignores anything past
// 72 bytes, so longer passwords are refused instead of half-checked.
const maxPasswordBytes = 72

// hashHelp tells an operator how to make a hash.
const hashHelp = "make one with `caddy hash-password` (bcrypt, or --algorithm argon2id)"

// User is one configured user: a name, a bcrypt hash and the claims
// minted into the user's tokens.
type User struct {
	Name   string
	Hash   string
	Claims map[string]any
}

// Account is a user ready for the login path.
type Account struct {
	// Name is the user's name.
	Name string
	// Claims are the user's configured claims.
	Claims map[string]any
	hash   []byte
	scheme Scheme
}

// Config configures Credentials.
type Config struct {
	// Users are the users configured inline.
	Users []User
	// File is the path of a users_file of `<name>:<bcrypt-hash>` lines,
	// re-read when it changes; empty: none.
	File string
	// Reserved reports whether a claim name is set by the issuer itself
	// and so cannot be configured for a user; nil: none is.
	Reserved func(name string) bool
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger; nil: no logging.
	Logger *zap.Logger
	// Schemes are the hash formats accepted, the first one's default for
	// the dummy hash when there are no users; nil: bcrypt only.
	Schemes []Scheme
}

// userDB is an immutable snapshot of the known users; a users_file change
// swaps in a new one.
type userDB struct {
	byName map[string]*Account
	// dummy is a hash of a random password in the users' most common
	// format and cost: unknown users are checked against it, so they take
	// as long as a wrong password.
	dummy       []byte
	dummyScheme Scheme
}

// Credentials checks logins against the configured users and users_file.
type Credentials struct {
	static   []User // `user` lines, validated
	file     string // users_file path, resolved; empty: none
	reserved func(string) bool

	db atomic.Pointer[userDB]

	mu        sync.Mutex // guards the fields below (users_file reload)
	checkedAt time.Time
	fileMod   time.Time
	fileSize  int64
	dummies   map[string][]byte // dummy hash per format and cost, made once
	logger    *zap.Logger
	now       func() time.Time
	schemes   []Scheme

	// compare runs a Scheme's Compare; the package's tests wrap it to
	// count and hold the comparisons.
	compare func(s Scheme, hash, password []byte) (bool, error)
}

// Load checks every configured user and reads the users file. Any mistake
// refuses to load, naming the user and the fix.
func Load(cfg Config) (*Credentials, error) {
	c := &Credentials{static: cfg.Users, file: cfg.File, reserved: cfg.Reserved, dummies: map[string][]byte{}, logger: cfg.Logger, now: cfg.Now,
		schemes: cfg.Schemes, compare: func(s Scheme, hash, password []byte) (bool, error) { return s.Compare(hash, password) }}
	if len(c.schemes) == 0 {
		c.schemes = []Scheme{Bcrypt}
	}
	if c.reserved == nil {
		c.reserved = func(string) bool { return false }
	}
	if c.logger == nil {
		c.logger = zap.NewNop()
	}
	if c.now == nil {
		c.now = time.Now
	}
	var fileUsers []User
	if c.file != "" {
		var err error
		if fileUsers, err = c.readFirst(); err != nil {
			return nil, err
		}
	}
	db, err := c.build(fileUsers)
	if err != nil {
		return nil, err
	}
	c.db.Store(db)
	return c, nil
}

// build checks users and makes a snapshot.
func (c *Credentials) build(fileUsers []User) (*userDB, error) {
	db := &userDB{byName: make(map[string]*Account, len(c.static)+len(fileUsers))}
	params := map[string]int{}  // users per format and cost
	like := map[string][]byte{} // a hash of each
	add := func(u User, where string) error {
		if err := checkUserName(u.Name); err != nil {
			return fmt.Errorf("jwt_issue: %s: user %q: %v", where, u.Name, err)
		}
		if _, dup := db.byName[u.Name]; dup {
			return fmt.Errorf("jwt_issue: %s: user %q is defined twice", where, u.Name)
		}
		scheme, key := c.schemeOf([]byte(u.Hash))
		if scheme == nil {
			return fmt.Errorf("jwt_issue: %s: user %q: the password hash is of no known form (%s); %s", where, u.Name, c.schemeNames(), hashHelp)
		}
		for k, v := range u.Claims {
			if c.reserved(k) {
				return fmt.Errorf("jwt_issue: %s: user %q: claim %q is set by the issuer itself and cannot be configured", where, u.Name, k)
			}
			if strictjson.HasControlChar(k) || strictjson.HasControlChar(v) {
				return fmt.Errorf("jwt_issue: %s: user %q: claim %q must not contain control characters", where, u.Name, k)
			}
		}
		params[key]++
		like[key] = []byte(u.Hash)
		db.byName[u.Name] = &Account{Name: u.Name, hash: []byte(u.Hash), scheme: scheme, Claims: u.Claims}
		return nil
	}
	for _, u := range c.static {
		if err := add(u, "user"); err != nil {
			return nil, err
		}
	}
	for _, u := range fileUsers {
		if err := add(u, "users_file "+c.file); err != nil {
			return nil, err
		}
	}
	key := mostCommon(params)
	if len(params) > 1 {
		c.logger.Warn("users have password hashes of different forms or costs; an unknown user takes as long as the most common one, so hashes of the others can be told apart by timing; rehash them alike",
			zap.String("dummy", key))
	}
	if cost, err := bcrypt.Cost(like[key]); err == nil && cost < bcrypt.DefaultCost {
		c.logger.Warn("bcrypt cost is below the default; use `caddy hash-password` (cost 14) for real users", zap.Int("cost", cost))
	}
	var err error
	if db.dummy, db.dummyScheme, err = c.dummyHash(key, like[key]); err != nil {
		return nil, err
	}
	return db, nil
}

// schemeOf finds the format of hash and its cost parameters.
func (c *Credentials) schemeOf(hash []byte) (Scheme, string) {
	for _, s := range c.schemes {
		if params, ok := s.Params(hash); ok {
			return s, params
		}
	}
	return nil, ""
}

func (c *Credentials) schemeNames() string {
	names := make([]string, len(c.schemes))
	for i, s := range c.schemes {
		names[i] = s.Name()
	}
	return strings.Join(names, " or ")
}

// mostCommon is the format and cost most users share (ties: the last in
// sorted order); "" with no users.
func mostCommon(params map[string]int) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best, n := "", 0
	for _, k := range keys {
		if params[k] >= n {
			best, n = k, params[k]
		}
	}
	return best
}

// dummyHash returns the hash of a random password with the parameters of
// like (a user's hash of format and cost key; nil without users: the first
// scheme's default), made once per key.
func (c *Credentials) dummyHash(key string, like []byte) ([]byte, Scheme, error) {
	scheme := c.schemes[0]
	if like != nil {
		scheme, _ = c.schemeOf(like)
	}
	if h, ok := c.dummies[key]; ok {
		return h, scheme, nil
	}
	h, err := scheme.Dummy(like)
	if err != nil {
		return nil, nil, fmt.Errorf("jwt_issue: making the dummy hash: %v", err)
	}
	c.dummies[key] = h
	return h, scheme, nil
}

func checkUserName(name string) error {
	switch {
	case name == "":
		return errors.New("the user name is empty")
	case len(name) > 256:
		return errors.New("the user name is longer than 256 bytes")
	case !utf8.ValidString(name) || strictjson.HasControlChar(name):
		return errors.New("the user name must be UTF-8 without control characters")
	}
	return nil
}

// Check verifies a login. It always spends one comparison in the users'
// most common format and cost (the user's own when known), whether the
// user exists, the password is wrong or too long, so all failures look and
// time alike. It returns the account on success, nil otherwise.
func (c *Credentials) Check(name, password string) *Account {
	db := c.current()
	acct, known := db.byName[name]
	hash, scheme := db.dummy, db.dummyScheme
	if known {
		hash, scheme = acct.hash, acct.scheme
	}
	pw := []byte(password)
	max := scheme.MaxPassword()
	tooLong := max > 0 && len(pw) > max
	if tooLong {
		// spend the same time, on bytes that cannot match anything
		pw = pw[:max]
	}
	ok, err := c.compare(scheme, hash, pw)
	if err != nil || !ok || !known || tooLong {
		return nil
	}
	return acct
}

// Lookup finds a user by name, for refresh (claims are the user's current
// ones; a removed user cannot refresh). It returns nil for an unknown
// user.
func (c *Credentials) Lookup(name string) *Account {
	return c.current().byName[name]
}

// ErrBadCredentials is Login's answer to a wrong username or password.
var ErrBadCredentials = errors.New("bad username or password")

// ThrottledError is Login's answer when the throttle refuses the attempt:
// it is refused without a password check, for Wait.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %v", e.Wait)
}

// Login checks a login (the login and reauth routes) under the throttle t
// (nil: none): the account on success, else ErrBadCredentials or a
// *ThrottledError. The attempt is reserved before the bcrypt comparison
// (Throttle.Reserve), so a burst of logins runs no more comparisons than
// the throttle allows failures.
func (c *Credentials) Login(t *Throttle, name, password, ip string) (*Account, error) {
	release := func(bool) {}
	if t != nil {
		var wait time.Duration
		var ok bool
		if release, wait, ok = t.Reserve(name, ip); !ok {
			return nil, &ThrottledError{Wait: wait}
		}
	}
	acct := c.Check(name, password)
	release(acct != nil)
	if acct == nil {
		return nil, ErrBadCredentials
	}
	return acct, nil
}
