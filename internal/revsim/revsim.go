// Package revsim simulates a cluster of instances sharing one revocation
// storage (file_system), on a simulated clock: live revocations and
// identity revocations seeded in the per-entry layout of earlier versions,
// the first start and compaction, the starts of the cluster, minutes of
// steady revocations with routine syncs and compactions, a mass
// revocation made by many callers at once, the latency of revocations
// made on every instance at once, and the expiry of an hour. Every
// instance has its own
// counting storage, so the report gives each one's List, Load, Stat and
// Store calls and keys listed per minute. The slow-tag test
// (TestRevocationSimulation) runs it small and checks the counts; `go run
// ./bench/revocation` runs it at a million (BENCHMARKS.md).
package revsim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
)

// Options sizes a simulation.
type Options struct {
	Dir         string // the shared storage folder (empty: a temporary one)
	Revocations int    // live jti revocations seeded
	Identities  int    // live identity revocations seeded
	Instances   int
	// Minutes of steady revocations, at Rate per minute over the cluster.
	Minutes, Rate int
	// Mass revocations made within one minute by MassCallers at once (as
	// many admin API requests), then Minutes more of steady state. Steady
	// revocations are made one after the other.
	Mass, MassCallers int
	// Latency revocations are made by 16 callers on every instance at
	// once, each timed (Report.Latency).
	Latency int
	Logf    func(format string, args ...any)
}

// PerMinute is one instance's storage calls in one minute.
type PerMinute struct {
	Lists, Loads, Stats, Stores, Deletes, ListedKeys float64
}

// Report is what a simulation measured.
type Report struct {
	Seed, FirstStart, FirstCompaction time.Duration
	CompactionPasses                  int
	Objects                           int // storage objects after the first compaction
	Starts                            []time.Duration
	// Steady: per instance per minute, averaged over instances and
	// minutes; the compacting instance's calls are included.
	Steady PerMinute
	// MaxExcess: the largest keys listed by a routine sync beyond the
	// revocations written since the instance's previous sync, in steady
	// state; MassExcess the same from the mass revocation on.
	MaxExcess, MassExcess int64
	// MaxListed: the most keys one routine sync listed, in steady state;
	// MassListed the same from the mass revocation on.
	MaxListed, MassListed int64
	// MaxLoadExcess: the largest Loads of a routine sync beyond the log
	// batches other instances committed since its previous sync (the
	// head, and the segments of a compaction), in steady state;
	// MassLoadExcess the same from the mass revocation on. MassBatches:
	// the batches the mass revocation was committed in.
	MaxLoadExcess, MassLoadExcess, MassBatches int64
	// Latency: the 50th and 99th percentile and the longest of the
	// Latency revocations made on every instance at once.
	Latency [3]time.Duration
	// MaxSync is the longest routine sync (wall time): a revocation on one
	// instance is enforced on all within the sync interval plus it.
	MaxSync time.Duration
	// MassCPU is the process CPU per instance in each minute from the
	// mass revocation's on; IdleCPU the same in steady state.
	MassCPU []time.Duration
	IdleCPU time.Duration
	// MassEnforcedAll: every mass-revoked id was refused by every
	// instance at the first sync after its revocation.
	MassEnforcedAll bool
	// ExpiredHours and ExpiryDeletes: hours dropped by the compaction after
	// the clock passed them, and the segment deletes it took.
	ExpiredHours, ExpiryDeletes int
}

const interval = 4 * time.Second

type instance struct {
	store *revocation.Store
	count *testkit.CountingStorage
	// sinceSync: revocations written to storage since this instance's
	// last sync (the changes it has to read); batchesSince: the log
	// batches other instances committed meanwhile.
	sinceSync, batchesSince int64
}

// Run runs the simulation.
func Run(o Options) (*Report, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "revsim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	rep := &Report{}
	now := time.Unix(1_800_000_000, 0).UTC()
	clock := testkit.NewClock(now)
	ctx := context.Background()

	began := time.Now()
	if err := Seed(o.Dir, now, o.Revocations, o.Identities); err != nil {
		return nil, err
	}
	rep.Seed = time.Since(began)
	logf("seeded %d revocations and %d identity revocations in the per-entry layout in %s", o.Revocations, o.Identities, rep.Seed.Round(time.Millisecond))

	open := func(name string) (*instance, error) {
		c := &testkit.CountingStorage{Storage: &certmagic.FileStorage{Path: o.Dir}}
		st, err := revocation.New(revocation.Config{Storage: named{c, name}, Now: clock.Now, Keep: revocation.Grace,
			NoExpTTL: 720 * time.Hour, LegacyHold: -1})
		if err != nil {
			return nil, err
		}
		return &instance{store: st, count: c}, nil
	}
	first, err := open("first")
	if err != nil {
		return nil, err
	}
	began = time.Now()
	if err := first.store.Load(); err != nil {
		return nil, err
	}
	rep.FirstStart = time.Since(began)
	began = time.Now()
	for {
		st, err := first.store.Compact(ctx)
		if err != nil {
			return nil, err
		}
		rep.CompactionPasses++
		if !st.More {
			break
		}
		clock.Advance(time.Second)
	}
	rep.FirstCompaction = time.Since(began)
	rep.Objects = countObjects(o.Dir)
	logf("first start on the per-entry layout: %s; compaction: %s in %d passes; %d storage objects after",
		rep.FirstStart.Round(time.Millisecond), rep.FirstCompaction.Round(time.Millisecond), rep.CompactionPasses, rep.Objects)

	insts := make([]*instance, o.Instances)
	for i := range insts {
		if insts[i], err = open(fmt.Sprint("instance-", i)); err != nil {
			return nil, err
		}
		began = time.Now()
		if err := insts[i].store.Load(); err != nil {
			return nil, err
		}
		rep.Starts = append(rep.Starts, time.Since(began))
	}
	logf("%d instances started on the compacted storage: %v", o.Instances, rep.Starts)

	seq := 0
	// revoke makes n revocations on by, callers at once; it returns the
	// ids and the batches they were committed in
	revoke := func(by *instance, n, callers int) ([]string, int64, error) {
		ids := make([]string, n)
		for i := range ids {
			seq++
			ids[i] = "sim-" + strconv.Itoa(seq)
		}
		stores := by.count.Stores.Load()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for c := range max(callers, 1) {
			wg.Go(func() {
				for i := c; i < n; i += max(callers, 1) {
					if err := by.store.Revoke(ctx, ids[i], clock.Now().Add(15*time.Minute)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return nil, 0, err
		}
		batches := (by.count.Stores.Load() - stores) / 2 // a batch and its tip each
		for _, in := range insts {
			in.sinceSync += int64(n)
			if in != by {
				in.batchesSince += batches
			}
		}
		return ids, batches, nil
	}
	// tick is one sync interval: revocations, then every instance syncs
	// (and, once a minute, tries to compact); it checks the new ids are
	// refused everywhere.
	tick := func(n, callers, by int, compact bool) (bool, error) {
		clock.Advance(interval)
		ids, batches, err := revoke(insts[by%len(insts)], n, callers)
		if err != nil {
			return false, err
		}
		if callers > 1 {
			rep.MassBatches += batches
		}
		all := true
		for _, in := range insts {
			before := in.count.Counts()
			began := time.Now()
			if err := in.store.Sync(ctx); err != nil {
				return false, err
			}
			took := time.Since(began)
			rep.MaxSync = max(rep.MaxSync, took)
			d := in.count.Counts().Sub(before)
			rep.MaxExcess = max(rep.MaxExcess, d.ListedKeys-in.sinceSync)
			rep.MaxListed = max(rep.MaxListed, d.ListedKeys)
			rep.MaxLoadExcess = max(rep.MaxLoadExcess, d.Loads-in.batchesSince)
			in.sinceSync, in.batchesSince = 0, 0
			for _, id := range ids {
				if !in.store.IsRevoked(id) {
					all = false
				}
			}
		}
		if compact {
			for _, in := range insts {
				if _, err := in.store.Compact(ctx); err != nil {
					return false, err
				}
			}
		}
		return all, nil
	}
	ticksPerMinute := int(time.Minute / interval)
	ticks := 0 // every instance revokes in turn, one per tick
	minute := func(rate, callers int) (time.Duration, bool, error) {
		cpu := cpuTime()
		all := true
		for t := range ticksPerMinute {
			n := rate / ticksPerMinute
			if t < rate%ticksPerMinute {
				n++
			}
			ok, err := tick(n, callers, ticks, t == ticksPerMinute-1)
			ticks++
			if err != nil {
				return 0, false, err
			}
			all = all && ok
		}
		return (cpuTime() - cpu) / time.Duration(len(insts)), all, nil
	}

	// settle (the first minutes compact the seeded open buckets), then
	// measure the steady state
	for range 4 {
		if _, _, err := minute(o.Rate, 1); err != nil {
			return nil, err
		}
	}
	before := make([]testkit.Counts, len(insts))
	for i, in := range insts {
		before[i] = in.count.Counts()
	}
	rep.MaxExcess, rep.MaxLoadExcess, rep.MaxListed, rep.MaxSync = 0, 0, 0, 0
	var idle time.Duration
	for range o.Minutes {
		cpu, all, err := minute(o.Rate, 1)
		if err != nil {
			return nil, err
		}
		if !all {
			return nil, fmt.Errorf("a revocation was not enforced by every instance at its next sync")
		}
		idle += cpu
	}
	rep.IdleCPU = idle / time.Duration(max(o.Minutes, 1))
	var sum testkit.Counts
	for i, in := range insts {
		d := in.count.Counts().Sub(before[i])
		sum = testkit.Counts{Lists: sum.Lists + d.Lists, Loads: sum.Loads + d.Loads, Stats: sum.Stats + d.Stats,
			Stores: sum.Stores + d.Stores, Deletes: sum.Deletes + d.Deletes, ListedKeys: sum.ListedKeys + d.ListedKeys}
	}
	div := float64(len(insts) * max(o.Minutes, 1))
	rep.Steady = PerMinute{float64(sum.Lists) / div, float64(sum.Loads) / div, float64(sum.Stats) / div,
		float64(sum.Stores) / div, float64(sum.Deletes) / div, float64(sum.ListedKeys) / div}
	logf("steady state, %d revocations/minute: per instance per minute %+v; most keys listed by a routine sync: %d, largest excess of keys listed over changes: %d, of Loads over new batches: %d; longest routine sync %s; CPU per instance per minute %s",
		o.Rate, rep.Steady, rep.MaxListed, rep.MaxExcess, rep.MaxLoadExcess, rep.MaxSync.Round(time.Microsecond), rep.IdleCPU.Round(time.Microsecond))

	steadyExcess, steadyLoadExcess, steadyListed := rep.MaxExcess, rep.MaxLoadExcess, rep.MaxListed
	if o.Mass > 0 {
		rep.MaxExcess, rep.MaxLoadExcess, rep.MaxListed = 0, 0, 0
		cpu, all, err := minute(o.Mass, max(o.MassCallers, 1))
		if err != nil {
			return nil, err
		}
		rep.MassEnforcedAll = all
		rep.MassCPU = append(rep.MassCPU, cpu)
		for range 4 {
			cpu, _, err := minute(o.Rate, 1)
			if err != nil {
				return nil, err
			}
			rep.MassCPU = append(rep.MassCPU, cpu)
		}
		rep.MassExcess, rep.MassLoadExcess, rep.MassListed = rep.MaxExcess, rep.MaxLoadExcess, rep.MaxListed
		logf("mass revocation of %d in one minute by %d callers at once, in %d batches: enforced by every instance at its next sync: %v; CPU per instance per minute from then on: %v (steady: %s); most keys listed by a routine sync: %d, largest excess of keys listed over changes: %d, of Loads over new batches: %d",
			o.Mass, max(o.MassCallers, 1), rep.MassBatches, all, rep.MassCPU, rep.IdleCPU.Round(time.Microsecond), rep.MassListed, rep.MassExcess, rep.MassLoadExcess)
	}
	rep.MaxExcess, rep.MaxLoadExcess, rep.MaxListed = steadyExcess, steadyLoadExcess, steadyListed

	if o.Latency > 0 {
		rep.Latency, err = latency(ctx, insts, o.Latency, clock.Now().Add(15*time.Minute))
		if err != nil {
			return nil, err
		}
		logf("%d revocations by 16 callers on each of the %d instances at once: latency p50 %s, p99 %s, max %s",
			o.Latency, len(insts), rep.Latency[0].Round(time.Microsecond), rep.Latency[1].Round(time.Microsecond), rep.Latency[2].Round(time.Microsecond))
	}

	// an hour passes its expiry: the mass revocation's tokens (15 minutes)
	// and the seeded entries of the first hours
	hoursBefore := headHours(o.Dir)
	clock.Advance(2 * time.Hour)
	st, err := first.store.Compact(ctx)
	if err != nil {
		return nil, err
	}
	rep.ExpiryDeletes = st.Dropped
	rep.ExpiredHours = hoursBefore - headHours(o.Dir)
	logf("two hours later: the compaction dropped %d hours of expiry with %d segment deletes", rep.ExpiredHours, rep.ExpiryDeletes)
	return rep, nil
}

// named gives a counting storage its own identity (String), so that
// instances in one process keep sets of their own.
type named struct {
	*testkit.CountingStorage
	name string
}

func (n named) String() string { return "revsim:" + n.name }
