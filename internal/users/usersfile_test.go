package users

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func writeUsersFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// set the mtime explicitly: a rewrite within the file system's
	// timestamp granularity must still be seen (size differs too)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestUsersFileRefusedAtLoad(t *testing.T) {
	dir := t.TempDir()
	hash := testHash(t)
	for _, c := range []struct {
		name, content, want string
	}{
		{"bad hash", "alice:$2a$10$nope\n", `user "alice"`},
		{"no colon", "alice " + hash + "\n", "line 1"},
		{"duplicate with user line", "alice:" + hash + "\n", "defined twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			writeUsersFile(t, p, c.content, time.Unix(1, 0))
			static := []User{{Name: "alice", Hash: hash}}
			if c.name != "duplicate with user line" {
				static = nil
			}
			_, err := Load(Config{Users: static, File: p, Now: time.Now, Logger: zap.NewNop()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if err != nil && c.name == "bad hash" && !strings.Contains(err.Error(), "caddy hash-password") {
				t.Errorf("error %q must say how to make a hash", err)
			}
		})
	}
	if _, err := Load(Config{File: filepath.Join(dir, "missing"), Now: time.Now, Logger: zap.NewNop()}); err == nil {
		t.Error("a missing users_file must refuse to load")
	}
}
