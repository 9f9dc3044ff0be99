package oidcflow

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

func TestLoadOrCreateKeyRace(t *testing.T) {
	dir := t.TempDir()
	const name = "jwt/oidc/tx.key"
	keys := make([][]byte, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		s := testkit.NewStorage(t, dir, string(rune('a'+i)))
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(context.Background(), s, name) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	if len(keys[0]) != KeySize || !bytes.Equal(keys[0], keys[1]) {
		t.Fatalf("two racing instances ended with keys %x and %x", keys[0], keys[1])
	}
	again, err := LoadOrCreateKey(context.Background(), testkit.NewStorage(t, dir, "c"), name)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("a later instance loaded %x, %v", again, err)
	}
	if _, err := NewSealer(again); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateKeyRefusesBadValue(t *testing.T) {
	dir := t.TempDir()
	s := testkit.NewStorage(t, dir, "a")
	const name = "jwt/oidc/tx.key"
	if err := s.Store(context.Background(), name, []byte("c2hvcnQ=\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(context.Background(), s, name); err == nil {
		t.Fatal("a 5-byte key accepted")
	}
	b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if string(b) != "c2hvcnQ=\n" {
		t.Fatalf("the bad value was replaced by %q", b)
	}
}

func TestStorageOnceConcurrent(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(testStart)
	until := testStart.Add(10 * time.Minute)
	const n = 3
	results := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		o := NewStorageOnce(testkit.NewStorage(t, dir, string(rune('a'+i))), "jwt/oidc/used", clock.Now)
		wg.Go(func() { results[i], errs[i] = o.Use(context.Background(), "the-id", until) })
	}
	wg.Wait()
	firsts := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d of %d concurrent uses of one id were first", firsts, n)
	}
	o := NewStorageOnce(testkit.NewStorage(t, dir, "z"), "jwt/oidc/used", clock.Now)
	if first, err := o.Use(context.Background(), "another-id", until); !first || err != nil {
		t.Fatalf("another id: %v, %v", first, err)
	}
	// the id itself is never stored
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if strings.Contains(p, "the-id") || strings.Contains(p, "another-id") {
			t.Errorf("stored under %s", p)
		}
		if d != nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("-id")) {
				t.Errorf("%s holds the id", p)
			}
		}
		return nil
	})
}

func TestStorageOnceSweep(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(testStart)
	s := testkit.NewStorage(t, dir, "a")
	o := NewStorageOnce(s, "jwt/oidc/used", clock.Now)
	ctx := context.Background()
	use := func(id string, until time.Time) {
		if first, err := o.Use(ctx, id, until); !first || err != nil {
			t.Fatalf("use %s: %v %v", id, first, err)
		}
	}
	use("old", testStart.Add(-3*time.Hour))
	use("recent", testStart.Add(-90*time.Minute)) // bucket 10:00, ended 11:00: within the grace
	use("live", testStart.Add(10*time.Minute))
	if err := s.Store(ctx, "jwt/oidc/used/README", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := o.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	buckets, _ := os.ReadDir(filepath.Join(dir, "jwt", "oidc", "used"))
	var names []string
	for _, b := range buckets {
		names = append(names, b.Name())
	}
	if strings.Join(names, " ") != "2026030110 2026030112 README" {
		t.Fatalf("after the sweep: %v", names)
	}
	// a swept id can be used again (its transaction expired long ago:
	// Finish refuses it before asking the Once)
	use("old", testStart.Add(-3*time.Hour))
	if first, _ := o.Use(ctx, "live", testStart.Add(10*time.Minute)); first {
		t.Fatal("a live marker was swept")
	}
	// nothing to sweep in an empty storage
	empty := NewStorageOnce(testkit.NewStorage(t, t.TempDir(), "e"), "jwt/oidc/used", clock.Now)
	if err := empty.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}
