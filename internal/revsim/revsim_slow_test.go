//go:build slow

package revsim

import (
	"testing"
	"time"
)

// TestRevocationSimulation runs the simulation small (20,000 live
// revocations, 10 instances) and checks what does not depend on the
// machine: storage calls and keys listed, and that every revocation is
// enforced by every instance at its next sync. `go run ./bench/revocation`
// runs it at a million.
func TestRevocationSimulation(t *testing.T) {
	rep, err := Run(Options{Revocations: 18_000, Identities: 2_000, Instances: 10, Minutes: 2, Rate: 600,
		Mass: 10_000, MassCallers: 64, Latency: 2_000, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	// storage objects: a segment per hour of expiry (30 days: 720 hours,
	// a few segments each at most), not one per entry
	if rep.Objects > 4*721+100 {
		t.Errorf("%d storage objects for 20,000 live revocations", rep.Objects)
	}
	// a routine sync lists the tips (one key per instance that revoked)
	// and Loads the head and the batches other instances committed; per
	// instance per minute, at 4s: 15 listings, and 15 heads plus the
	// batches of the 600 revocations, plus the compacting instance's share
	if rep.Steady.Lists > 15+10 || rep.Steady.Loads > 15+600+20 {
		t.Errorf("per instance per minute: %+v", rep.Steady)
	}
	// beyond the changes since its last sync, a routine sync lists at most
	// a key per writer, and Loads the head and at most the few segments a
	// compaction wrote (one per hour of expiry touched, 15-minute tokens)
	for _, c := range []struct {
		name                   string
		listed, excess, loaded int64
	}{{"steady", rep.MaxListed, rep.MaxExcess, rep.MaxLoadExcess}, {"mass", rep.MassListed, rep.MassExcess, rep.MassLoadExcess}} {
		if c.listed > 10 || c.excess > 10 {
			t.Errorf("%s: a routine sync listed %d keys, %d beyond its changes, want at most 10 (the tips)", c.name, c.listed, c.excess)
		}
		if c.loaded > 1+4 {
			t.Errorf("%s: a routine sync made %d Loads beyond the new batches", c.name, c.loaded)
		}
	}
	if !rep.MassEnforcedAll {
		t.Error("the mass revocation was not enforced by every instance at its next sync")
	}
	if rep.MassBatches == 0 || rep.MassBatches > 10_000 {
		t.Errorf("the mass revocation took %d batches", rep.MassBatches)
	}
	if rep.ExpiredHours < 1 || rep.ExpiryDeletes > rep.ExpiredHours*4 {
		t.Errorf("expiry dropped %d hours with %d deletes", rep.ExpiredHours, rep.ExpiryDeletes)
	}
	for i, d := range rep.Starts {
		if d > 10*time.Second {
			t.Errorf("instance %d took %s to start", i, d)
		}
	}
}
