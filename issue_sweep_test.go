package jwtextended

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestSweeperOncePerIntervalStopsWithTheConfig: a storage sweep (OIDC
// markers, passkey ceremonies) starts at most once per interval, by the
// app's clock, and stops when the config's context is cancelled (the
// config unloaded).
func TestSweeperOncePerIntervalStopsWithTheConfig(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := &Issue{app: f.app, ctx: ctx, logger: zap.NewNop()}
	started := make(chan struct{}, 4)
	stopped := make(chan error, 4)
	s := &sweeper{every: time.Minute, what: "test", sweep: func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	}}
	f.clock.Advance(time.Hour) // the first call is due
	s.maybe(h)
	<-started
	s.maybe(h)
	f.clock.Advance(59 * time.Second)
	s.maybe(h)
	if n := len(started); n != 0 {
		t.Fatalf("%d more sweeps started within the interval", n)
	}
	cancel()
	if err := <-stopped; err != context.Canceled {
		t.Fatalf("the sweep ended with %v, want the config's cancellation", err)
	}
	f.clock.Advance(time.Second)
	s.maybe(h)
	<-started // due again after the interval
	if err := <-stopped; err != context.Canceled {
		t.Fatalf("a sweep on an unloaded config ran: %v", err)
	}
}
