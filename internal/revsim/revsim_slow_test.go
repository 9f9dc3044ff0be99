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
	rep, err := Run(Options{Revocations: 18_000, Identities: 2_000, Instances: 10, Minutes: 2, Rate: 600, Mass: 10_000, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	// storage objects: a segment per hour of expiry (30 days: 720 hours,
	// a few segments each at most) and the open buckets, not one per entry
	if rep.Objects > 4*721+100 {
		t.Errorf("%d storage objects for 20,000 live revocations", rep.Objects)
	}
	// a routine sync: the head and the recent buckets; per instance per
	// minute, at 4s, 15 syncs of 1 Load and 2-3 Lists, plus the
	// compacting instance's share
	if rep.Steady.Lists > 15*3+10 || rep.Steady.Loads > 15+10 {
		t.Errorf("per instance per minute: %+v", rep.Steady)
	}
	// keys listed by a routine sync beyond the changes since the last one:
	// the revocations of the last minute or so (the skew window), not
	// the live ones
	if rep.MaxExcess > 2*600 {
		t.Errorf("a routine sync listed %d keys beyond its changes", rep.MaxExcess)
	}
	if !rep.MassEnforcedAll {
		t.Error("the mass revocation was not enforced by every instance at its next sync")
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
