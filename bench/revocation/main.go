// Command revocation runs the revocation simulation (internal/revsim) at
// scale: by default a million live revocations (900,000 token ids and
// 100,000 identities) and 10 instances on one file_system storage folder,
// on a simulated clock. It then measures a start on the compacted storage
// in a fresh process (time to serving, Go heap after GC, RSS).
// BENCHMARKS.md has the figures.
//
//	go run ./bench/revocation                      # about 2-4 minutes
//	go run ./bench/revocation -revocations 100000 -identities 10000
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revsim"
)

func main() {
	revocations := flag.Int("revocations", 900_000, "live jti revocations")
	identities := flag.Int("identities", 100_000, "live identity revocations")
	instances := flag.Int("instances", 10, "instances on the storage")
	minutes := flag.Int("minutes", 5, "minutes of steady state (before and after the mass revocation)")
	rate := flag.Int("rate", 600, "revocations per minute in steady state, over the cluster")
	mass := flag.Int("mass", 100_000, "revocations in the mass revocation's minute")
	massCallers := flag.Int("mass-callers", 64, "callers making the mass revocation at once")
	latency := flag.Int("latency", 20_000, "revocations made by 16 callers on every instance at once, timed")
	measure := flag.String("measure-start", "", "internal: measure a start on this folder and print it")
	keep := flag.String("keep", "", "the storage folder to use and keep (default: a temporary one, removed)")
	flag.Parse()
	log.SetFlags(0)

	if *measure != "" {
		took, heap, rss, n, err := revsim.MeasureStart(*measure)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %d %d %d\n", took.Nanoseconds(), heap, rss, n)
		return
	}
	dir := *keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "revsim-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	rep, err := revsim.Run(revsim.Options{Dir: dir, Revocations: *revocations, Identities: *identities,
		Instances: *instances, Minutes: *minutes, Rate: *rate, Mass: *mass, MassCallers: *massCallers, Latency: *latency, Logf: log.Printf})
	if err != nil {
		log.Fatal(err)
	}
	_ = rep
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		out, err := exec.Command(self, "-measure-start", dir).Output()
		if err != nil {
			log.Fatal(err)
		}
		f := strings.Fields(string(out))
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		heap, _ := strconv.ParseInt(f[1], 10, 64)
		rss, _ := strconv.ParseInt(f[2], 10, 64)
		log.Printf("a start on the compacted storage, fresh process: %s to serving, %d entries (the seeding's live ones, the steady state's expired), Go heap after GC %.1f MiB, RSS %.1f MiB",
			time.Duration(ns).Round(time.Millisecond), mustAtoi(f[3]), float64(heap)/(1<<20), float64(rss)/(1<<20))
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
