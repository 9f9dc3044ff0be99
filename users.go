package jwtextended

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is bcrypt's limit: it silently ignores anything past
// 72 bytes, so longer passwords are refused instead of half-checked.
const maxPasswordBytes = 72

// usersFileCheckInterval is how often, at most, a login stats users_file
// to see whether it changed.
const usersFileCheckInterval = 2 * time.Second

// maxUsersFileSize bounds users_file; a bigger file refuses to load.
const maxUsersFileSize = 16 << 20

// hashHelp tells an operator how to make a hash.
const hashHelp = "make one with `caddy hash-password --algorithm bcrypt`"

// account is a user ready for the login path.
type account struct {
	name   string
	hash   []byte
	claims map[string]any
}

// userDB is an immutable snapshot of the known users; a users_file change
// swaps in a new one.
type userDB struct {
	byName map[string]*account
	// dummy is a bcrypt hash of a random password at the users' cost:
	// unknown users are checked against it, so they take as long as a
	// wrong password.
	dummy []byte
}

// credentials checks logins against the configured users and users_file.
type credentials struct {
	static []User // `user` lines, validated
	file   string // users_file path, resolved; empty: none
	// reserved names the identity claim, refused as a user claim
	identityClaim string

	db atomic.Pointer[userDB]

	mu        sync.Mutex // guards the fields below (users_file reload)
	checkedAt time.Time
	fileMod   time.Time
	fileSize  int64
	dummies   map[int][]byte // dummy hash per cost, made once
	logger    *zap.Logger
	now       func() time.Time
}

// loadCredentials checks every configured user and reads users_file. Any
// mistake refuses to load, naming the user and the fix.
func loadCredentials(users []User, file, identityClaim string, now func() time.Time, logger *zap.Logger) (*credentials, error) {
	c := &credentials{static: users, file: file, identityClaim: identityClaim, dummies: map[int][]byte{}, logger: logger, now: now}
	var fileUsers []User
	if file != "" {
		st, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("jwt_issue: users_file: %v", err)
		}
		if fileUsers, err = readUsersFile(file); err != nil {
			return nil, err
		}
		c.fileMod, c.fileSize = st.ModTime(), st.Size()
		c.checkedAt = now()
	}
	db, err := c.build(fileUsers)
	if err != nil {
		return nil, err
	}
	c.db.Store(db)
	return c, nil
}

// build checks users and makes a snapshot.
func (c *credentials) build(fileUsers []User) (*userDB, error) {
	db := &userDB{byName: make(map[string]*account, len(c.static)+len(fileUsers))}
	costs := map[int]int{}
	add := func(u User, where string) error {
		if err := checkUserName(u.Name); err != nil {
			return fmt.Errorf("jwt_issue: %s: user %q: %v", where, u.Name, err)
		}
		if _, dup := db.byName[u.Name]; dup {
			return fmt.Errorf("jwt_issue: %s: user %q is defined twice", where, u.Name)
		}
		cost, err := bcrypt.Cost([]byte(u.Hash))
		if err != nil {
			return fmt.Errorf("jwt_issue: %s: user %q: the password hash is not a valid bcrypt hash (%v); %s", where, u.Name, err, hashHelp)
		}
		for k, v := range u.Claims {
			if token.Reserved(k) || k == c.identityClaim {
				return fmt.Errorf("jwt_issue: %s: user %q: claim %q is set by the issuer itself and cannot be configured", where, u.Name, k)
			}
			if strictjson.HasControlChar(k) || strictjson.HasControlChar(v) {
				return fmt.Errorf("jwt_issue: %s: user %q: claim %q must not contain control characters", where, u.Name, k)
			}
		}
		costs[cost]++
		db.byName[u.Name] = &account{name: u.Name, hash: []byte(u.Hash), claims: u.Claims}
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
	cost := dummyCost(costs)
	if len(costs) > 1 && c.logger != nil {
		c.logger.Warn("users have bcrypt hashes of different costs; an unknown user takes as long as the most common cost, so hashes of other costs can be told apart by timing; rehash them at one cost",
			zap.Int("dummy_cost", cost))
	}
	if cost < bcrypt.DefaultCost && len(costs) > 0 && c.logger != nil {
		c.logger.Warn("bcrypt cost is below the default; use `caddy hash-password` (cost 14) for real users", zap.Int("cost", cost))
	}
	dummy, err := c.dummyHash(cost)
	if err != nil {
		return nil, err
	}
	db.dummy = dummy
	return db, nil
}

// dummyCost is the most common cost among the users (ties: the higher);
// with no users, bcrypt's default.
func dummyCost(costs map[int]int) int {
	best, n := bcrypt.DefaultCost, 0
	keys := make([]int, 0, len(costs))
	for k := range costs {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if costs[k] >= n {
			best, n = k, costs[k]
		}
	}
	return best
}

// dummyHash returns the bcrypt hash of a random password at cost, made
// once per cost.
func (c *credentials) dummyHash(cost int) ([]byte, error) {
	if h, ok := c.dummies[cost]; ok {
		return h, nil
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	// bcrypt refuses passwords over 72 bytes; 32 random bytes are fine.
	h, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		return nil, fmt.Errorf("jwt_issue: making the dummy hash: %v", err)
	}
	c.dummies[cost] = h
	return h, nil
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

// readUsersFile parses `<name>:<bcrypt-hash>` lines; blank lines and lines
// starting with # are skipped.
func readUsersFile(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt_issue: users_file: %v", err)
	}
	if len(data) > maxUsersFileSize {
		return nil, fmt.Errorf("jwt_issue: users_file %s is larger than %d bytes", path, maxUsersFileSize)
	}
	var users []User
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, hash, ok := strings.Cut(s, ":")
		name, hash = strings.TrimSpace(name), strings.TrimSpace(hash)
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("jwt_issue: users_file %s line %d: expected <name>:<bcrypt-hash>; %s", path, line, hashHelp)
		}
		users = append(users, User{Name: name, Hash: hash})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("jwt_issue: users_file %s: %v", path, err)
	}
	return users, nil
}

// current returns the users, re-reading users_file first when it changed.
// The file is stat'ed at most every usersFileCheckInterval; a file that no
// longer parses is logged and the previous users stay in force.
func (c *credentials) current() *userDB {
	if c.file == "" {
		return c.db.Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.checkedAt) < usersFileCheckInterval && !now.Before(c.checkedAt) {
		return c.db.Load()
	}
	c.checkedAt = now
	st, err := os.Stat(c.file)
	if err != nil {
		c.logger.Error("users_file unreadable; keeping the users loaded before", zap.String("users_file", c.file), zap.Error(err))
		return c.db.Load()
	}
	if st.ModTime().Equal(c.fileMod) && st.Size() == c.fileSize {
		return c.db.Load()
	}
	users, err := readUsersFile(c.file)
	if err == nil {
		var db *userDB
		if db, err = c.build(users); err == nil {
			c.db.Store(db)
			c.fileMod, c.fileSize = st.ModTime(), st.Size()
			c.logger.Info("users_file reloaded", zap.String("users_file", c.file), zap.Int("users", len(db.byName)))
			return db
		}
	}
	// remember the stat so a broken file is not re-parsed on every login
	c.fileMod, c.fileSize = st.ModTime(), st.Size()
	c.logger.Error("users_file changed but does not load; keeping the users loaded before", zap.String("users_file", c.file), zap.Error(err))
	return c.db.Load()
}

// check verifies a login. It always spends one bcrypt comparison at the
// users' cost, whether the user exists, the password is wrong or too long,
// so all failures look and time alike. It returns the account on success.
func (c *credentials) check(name, password string) *account {
	db := c.current()
	acct, known := db.byName[name]
	hash := db.dummy
	if known {
		hash = acct.hash
	}
	pw := []byte(password)
	tooLong := len(pw) > maxPasswordBytes
	if tooLong {
		// spend the same time, on bytes that cannot match anything
		pw = pw[:maxPasswordBytes]
	}
	err := bcrypt.CompareHashAndPassword(hash, pw)
	if err != nil || !known || tooLong {
		return nil
	}
	return acct
}

// lookup finds a user by name, for refresh (claims are the user's current
// ones; a removed user cannot refresh).
func (c *credentials) lookup(name string) *account {
	return c.current().byName[name]
}
