package users

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

// FileCheckInterval is how often, at most, a login stats the users file
// to see whether it changed.
const FileCheckInterval = 2 * time.Second

// maxUsersFileSize bounds users_file; a bigger file refuses to load.
const maxUsersFileSize = 16 << 20

// readFirst reads the users file at load, and remembers its stat so that
// only a change reloads it.
func (c *Credentials) readFirst() ([]User, error) {
	st, err := os.Stat(c.file)
	if err != nil {
		return nil, fmt.Errorf("jwt_issue: users_file: %v", err)
	}
	users, err := readUsersFile(c.file)
	if err != nil {
		return nil, err
	}
	c.fileMod, c.fileSize = st.ModTime(), st.Size()
	c.checkedAt = c.now()
	return users, nil
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

// current returns the users, re-reading the users file first when it
// changed. The file is stat'ed at most every FileCheckInterval; a file
// that no longer parses is logged and the previous users stay in force.
func (c *Credentials) current() *userDB {
	if c.file == "" {
		return c.db.Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.checkedAt) < FileCheckInterval && !now.Before(c.checkedAt) {
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
