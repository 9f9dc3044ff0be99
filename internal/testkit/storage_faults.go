package testkit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/certmagic"
)

// Storage wraps a real file storage and fails or lies on demand, and
// records what it was asked. Its name is its identity (String), so two of
// them on the same folder act like two Caddy processes sharing storage,
// each with a revocation set of its own.
type Storage struct {
	*certmagic.FileStorage
	name string

	mu         sync.Mutex
	FailList   error
	FailStore  error
	FailDelete error
	ExtraKeys  []string // listed in addition to the real keys, under their folder
	Lists      int
	Listed     []string // prefixes listed, "(recursive)" appended when so
	Deletes    int
}

// NewStorage returns a Storage on dir, named name within the test.
func NewStorage(t testing.TB, dir, name string) *Storage {
	t.Helper()
	return &Storage{FileStorage: &certmagic.FileStorage{Path: dir}, name: name + "@" + t.Name()}
}

func (s *Storage) String() string { return "testkit.Storage:" + s.name }

// Set changes or reads the storage's faults and records under its lock.
func (s *Storage) Set(f func(*Storage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	s.mu.Lock()
	s.Lists++
	if recursive {
		s.Listed = append(s.Listed, prefix+" (recursive)")
	} else {
		s.Listed = append(s.Listed, prefix)
	}
	err := s.FailList
	var extra []string
	for _, key := range s.ExtraKeys {
		if strings.HasPrefix(key, prefix+"/") {
			extra = append(extra, key)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	keys, err := s.FileStorage.List(ctx, prefix, recursive)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return append(keys, extra...), nil
}

func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	err := s.FailStore
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.FileStorage.Store(ctx, key, value)
}

func (s *Storage) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.Deletes++
	err := s.FailDelete
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if _, statErr := os.Stat(s.Filename(key)); errors.Is(statErr, fs.ErrNotExist) {
		// like most remote storages: deleting what is gone is not-found
		return fs.ErrNotExist
	}
	return s.FileStorage.Delete(ctx, key)
}

// HoldLegacyLayout marks the file_system storage at dir, before any
// instance starts on it, as shared with instances of the layout of
// earlier versions until the unix time until: revocations are then also
// written one object each under jwt/revoked (what RevocationFiles lists).
func HoldLegacyLayout(t testing.TB, dir string, until int64) {
	t.Helper()
	head := fmt.Appendf(nil, `{"format":1,"legacy_until":%d,"hours":{}}`, until)
	if err := (&certmagic.FileStorage{Path: dir}).Store(context.Background(), "jwt/revocations/head", head); err != nil {
		t.Fatal(err)
	}
}

// RevocationFiles lists the names of the files under the revocation folder
// of the layout of earlier versions (jwt/revoked) of a file_system storage
// at dir.
func RevocationFiles(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	root := filepath.Join(dir, "jwt", "revoked")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
