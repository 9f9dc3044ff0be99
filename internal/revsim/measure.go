package revsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddyserver/certmagic"
)

// What the simulation seeds and measures outside its clock: the storage
// of an earlier version, revocation latency, objects and hours in
// storage, CPU time, and a start in a fresh process.

// latency makes n revocations, split over 16 callers on every instance
// at once, and returns the 50th and 99th percentile and the longest of
// their latencies.
func latency(ctx context.Context, insts []*instance, n int, exp time.Time) ([3]time.Duration, error) {
	const callers = 16
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	errs := make(chan error, callers*len(insts))
	for k := range callers * len(insts) {
		in := insts[k%len(insts)]
		wg.Go(func() {
			for i := k; i < n; i += callers * len(insts) {
				began := time.Now()
				if err := in.store.Revoke(ctx, "latency-"+strconv.Itoa(i), exp); err != nil {
					errs <- err
					return
				}
				took[i] = time.Since(began)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return [3]time.Duration{}, err
	}
	slices.Sort(took)
	return [3]time.Duration{took[n/2], took[n*99/100], took[n-1]}, nil
}

// Seed writes live revocations and identity revocations as versions
// before the compacted layout did: one object each, in the bucket of the
// minute of the revocation (spread over the last day), expiring over the
// next 30 days.
func Seed(dir string, now time.Time, revocations, identities int) error {
	total := revocations + identities
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			made := map[string]bool{}
			for i := w; i < total; i += workers {
				at := now.Add(-time.Duration(i%1440+1) * time.Minute)
				exp := now.Add(time.Duration(i%(720*60)+10) * time.Minute).Unix()
				bucket := filepath.Join(dir, "jwt", "revoked", at.UTC().Format("20060102T1504"))
				if !made[bucket] {
					if err := os.MkdirAll(bucket, 0o700); err != nil {
						errs <- err
						return
					}
					made[bucket] = true
				}
				var name string
				if i < revocations {
					sum := sha256.Sum256([]byte("seed-" + strconv.Itoa(i)))
					name = hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(exp, 10)
				} else {
					sum := sha256.Sum256([]byte("user-" + strconv.Itoa(i)))
					before := at.Unix()
					name = "i" + hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(before, 10) + "." + strconv.FormatInt(max(exp, before), 10)
				}
				if err := os.WriteFile(filepath.Join(bucket, name), []byte("{}"), 0o600); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func countObjects(dir string) int {
	n := 0
	_ = filepath.WalkDir(filepath.Join(dir, "jwt"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func headHours(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "jwt", "revocations", "head"))
	if err != nil {
		return 0
	}
	var h struct {
		Hours map[string]json.RawMessage `json:"hours"`
	}
	_ = json.Unmarshal(b, &h)
	return len(h.Hours)
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MeasureStart opens one instance on dir (compacted by Run) in this
// process, loads it, and reports the time, the Go heap after GC and the
// process RSS: run it in a fresh process.
func MeasureStart(dir string) (took time.Duration, heap uint64, rss int64, revoked int, err error) {
	st, err := revocation.New(revocation.Config{Storage: &certmagic.FileStorage{Path: dir}, Keep: revocation.Grace,
		NoExpTTL: 720 * time.Hour, LegacyHold: -1, Now: func() time.Time { return time.Unix(1_800_000_000, 0).Add(6 * time.Minute) }})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	began := time.Now()
	if err := st.Load(); err != nil {
		return 0, 0, 0, 0, err
	}
	took = time.Since(began)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss = vmRSS()
	runtime.KeepAlive(st)
	return took, m.HeapAlloc, rss, st.Revoked() + st.Identities(), nil
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
