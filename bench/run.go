// Command run is the end-to-end benchmark of jwt_auth against plain Caddy
// in the same run (BENCHMARKS.md has the method and the figures).
//
// It builds ./cmd/caddy, starts ONE Caddy on loopback with four routes on
// one port:
//
//	/plain           respond "ok"                       (the baseline)
//	/hs256           jwt_auth + respond, 100 HS256 tokens in rotation
//	/es256-hot       jwt_auth + respond, 100 ES256 tokens in rotation
//	/es256-distinct  jwt_auth + respond, a new ES256 token on every request
//
// and loads them in alternation for several rounds with wrk: /plain with
// the HS256 tokens' headers, /hs256, /plain with the ES256 tokens' headers,
// /es256-hot, /es256-distinct. It prints requests/s per load, the ratio to
// the matching /plain load of the same round, and Caddy's peak RSS.
//
// From the repository root (needs wrk: apt-get install -y wrk):
//
//	go run ./bench                     # 5 rounds of 5 s per load, under 3 minutes
//	go run ./bench -rounds 5 -duration 10s -connections 32 -threads 2
//
// ES256 needs the jwt app's public_key support; without it the ES256 routes
// are reported as unavailable and the HS256 part still runs.
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

const secret = "bench-secret-0123456789abcdef-0123456789"

func main() {
	rounds := flag.Int("rounds", 5, "rounds of the five loads")
	duration := flag.Duration("duration", 5*time.Second, "wrk duration per load and round")
	conns := flag.Int("connections", 32, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	distinct := flag.Int("tokens", 200_000, "distinct ES256 tokens minted for /es256-distinct")
	caddyBin := flag.String("caddy", "", "a built Caddy with this module (default: build ./cmd/caddy)")
	keep := flag.Bool("keep", false, "keep the work directory (config, tokens, Caddy log)")
	profile := flag.String("profile", "", "route whose first round is CPU-profiled through Caddy's admin API, e.g. hs256 (the profile is written beside the work directory's caddy binary, and -keep is implied)")
	flag.Parse()
	log.SetFlags(0)

	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not found: apt-get install -y wrk")
	}
	dir, err := os.MkdirTemp("", "jwt-bench-")
	check(err)
	if *profile != "" {
		*keep = true
	}
	adminPort = freePort()
	if *keep {
		log.Printf("work directory: %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	if *caddyBin == "" {
		*caddyBin = filepath.Join(dir, "caddy")
		log.Printf("building ./cmd/caddy ...")
		build := exec.Command("go", "build", "-o", *caddyBin, "./cmd/caddy")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		check(build.Run())
	}

	// keys and tokens, minted with the standard library only
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	pubDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	check(err)
	pubFile := filepath.Join(dir, "es256.pub.pem")
	check(os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600))

	start := time.Now()
	exp := time.Now().Add(2 * time.Hour).Unix()
	writeTokens(filepath.Join(dir, "hs256.txt"), 100, func(i int) string { return mintHS256(i, exp) })
	writeTokens(filepath.Join(dir, "es256-hot.txt"), 100, func(i int) string { return mintES256(ec, i, exp) })
	writeTokens(filepath.Join(dir, "es256-distinct.txt"), *distinct, func(i int) string { return mintES256(ec, 1000+i, exp) })
	log.Printf("minted %d tokens in %v", 200+*distinct, time.Since(start).Round(time.Millisecond))

	port := freePort()
	caddy, es256Err := startCaddy(*caddyBin, dir, port, pubFile)
	running = caddy
	defer caddy.stop()
	// Each load is a route and the token file whose Authorization headers
	// wrk sends. /plain ignores the header, but gets the same ones as the
	// routes it is compared with: the load generator shares the CPUs, so
	// it must do the same work (Lua rotation, header bytes) for both.
	type load struct{ label, route, tokens, baseline string }
	loads := []load{
		{"plain/hs", "plain", "hs256", ""},
		{"hs256", "hs256", "hs256", "plain/hs"},
		{"plain/es", "plain", "es256-hot", ""},
		{"es256-hot", "es256-hot", "es256-hot", "plain/es"},
		{"es256-distinct", "es256-distinct", "es256-distinct", "plain/es"},
	}
	if es256Err != nil {
		log.Printf("ES256 unavailable (the jwt app refused public_key, keys support not merged?): %v", es256Err)
		loads = loads[:2]
	}
	for _, l := range loads {
		if l.baseline == "" {
			continue
		}
		if code := probe(port, l.route, firstLine(filepath.Join(dir, l.tokens+".txt"))); code != http.StatusOK {
			fatalf("/%s answers %d to a valid token", l.route, code)
		}
	}

	script := filepath.Join(dir, "rotate.lua")
	check(os.WriteFile(script, []byte(rotateLua), 0o600))

	var loadAvg string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		loadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	log.Printf("machine: %d CPUs (%s), load average %s; wrk -t%d -c%d -d%v, %d rounds",
		runtime.NumCPU(), cpuModel(), loadAvg, *threads, *conns, *duration, *rounds)

	// warm up each load once (connections, the cache's hot set, page faults)
	for _, l := range loads {
		wrk(port, l.route, filepath.Join(dir, l.tokens+".txt"), script, *threads, *conns, 2*time.Second, 0)
	}
	results := map[string][]float64{}
	ratios := map[string][]float64{}
	for round := 1; round <= *rounds; round++ {
		for _, l := range loads {
			var prof chan string
			if round == 1 && l.route == *profile {
				prof = make(chan string, 1)
				go func() { prof <- cpuProfile(dir, l.route, *duration-2*time.Second) }()
				time.Sleep(time.Second) // start inside the load
			}
			rps := wrk(port, l.route, filepath.Join(dir, l.tokens+".txt"), script, *threads, *conns, *duration, round)
			if prof != nil {
				p := <-prof
				log.Printf("CPU profile of /%s: %s (go tool pprof -top %s %s)", l.route, p, *caddyBin, p)
			}
			results[l.label] = append(results[l.label], rps)
			if l.baseline != "" {
				base := results[l.baseline]
				ratios[l.label] = append(ratios[l.label], rps/base[len(base)-1])
			}
			log.Printf("round %d  %-15s %10.0f req/s  rss %s", round, l.label, rps, caddy.rss("VmRSS"))
		}
	}

	fmt.Printf("\n%-16s %12s %12s %10s %10s  %s\n", "load", "median req/s", "min req/s", "ratio", "min ratio", "against")
	for _, l := range loads {
		med, lo := median(results[l.label]), minOf(results[l.label])
		if l.baseline == "" {
			fmt.Printf("%-16s %12.0f %12.0f\n", l.label, med, lo)
			continue
		}
		fmt.Printf("%-16s %12.0f %12.0f %10.2f %10.2f  %s\n", l.label, med, lo, median(ratios[l.label]), minOf(ratios[l.label]), l.baseline)
	}
	if es256Err != nil {
		fmt.Printf("%-16s unavailable\n%-16s unavailable\n", "es256-hot", "es256-distinct")
	}
	fmt.Printf("\njwt metrics at the end:\n%s", jwtMetrics())
	fmt.Printf("\nplain/hs, plain/es: /plain with the HS256 or ES256 hot set's headers\n")
	fmt.Printf("ratio: req/s / req/s of its plain load in the same round (median over %d rounds)\n", *rounds)
	fmt.Printf("caddy peak RSS (VmHWM): %s, RSS now: %s\n", caddy.rss("VmHWM"), caddy.rss("VmRSS"))
	if loadAvg != "" {
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			fmt.Printf("load average before: %s, after: %s\n", loadAvg, strings.Join(strings.Fields(string(b))[:3], " "))
		}
	}
}

// adminPort is Caddy's admin API port, on loopback: profiles and the
// caddy_jwt_* metrics are read there.
var adminPort int

// jwtMetrics returns the caddy_jwt_* lines of Caddy's /metrics.
func jwtMetrics() string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		return "  unavailable: " + err.Error() + "\n"
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "caddy_jwt_") {
			b.WriteString("  " + sc.Text() + "\n")
		}
	}
	if b.Len() == 0 {
		return "  (no caddy_jwt_ series in /metrics)\n"
	}
	return b.String()
}

// cpuProfile fetches a CPU profile of Caddy over d into dir.
func cpuProfile(dir, route string, d time.Duration) string {
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", adminPort, int(d.Seconds()))
	resp, err := http.Get(url)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	path := filepath.Join(dir, "cpu-"+route+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return "failed: " + err.Error()
	}
	return path
}

// rotateLua gives each wrk thread its own slice of the route's token file
// and walks it, so with the distinct file no token repeats within a round
// (and a round starts where earlier rounds did not).
const rotateLua = `
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local file, threads, round = args[1], tonumber(args[2]), tonumber(args[3])
  tokens = {}
  for line in io.lines(file) do tokens[#tokens + 1] = line end
  local slice = math.floor(#tokens / threads)
  if slice < 1 then slice = #tokens; id = 0 end
  first = id * slice
  n = slice
  i = (round * 7919) % n
end
function request()
  i = i + 1
  if i >= n then i = 0 end
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[first + i + 1]})
end
`

var rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
var non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)

// wrk loads one route, with the Authorization headers of tokenFile in
// rotation, and returns its requests per second.
func wrk(port int, route, tokenFile, script string, threads, conns int, d time.Duration, round int) float64 {
	url := fmt.Sprintf("http://127.0.0.1:%d/%s", port, route)
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s",
		"-s", script, url, "--", tokenFile, strconv.Itoa(threads), strconv.Itoa(round)}
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		fatalf("wrk %v: %v\n%s", args, err, out)
	}
	if m := non2xxRE.FindSubmatch(out); m != nil {
		fatalf("/%s: %s responses were not 2xx: tokens refused?\n%s", route, m[1], out)
	}
	m := rpsRE.FindSubmatch(out)
	if m == nil {
		fatalf("no Requests/sec in wrk output:\n%s", out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	check(err)
	return v
}

type caddyProc struct {
	cmd    *exec.Cmd
	exited chan error
}

func (c *caddyProc) stop() {
	if c != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// rss reads a memory line (VmRSS, VmHWM) of /proc/<pid>/status.
func (c *caddyProc) rss(field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

// startCaddy starts Caddy with all routes; when the ES256 key is refused it
// starts again without the ES256 routes and returns why.
func startCaddy(bin, dir string, port int, pubFile string) (*caddyProc, error) {
	c, err := runCaddy(bin, dir, port, config(dir, port, pubFile))
	if err == nil {
		return c, nil
	}
	c2, err2 := runCaddy(bin, dir, port, config(dir, port, ""))
	if err2 != nil {
		fatalf("caddy does not start even with HS256 only: %v", err2)
	}
	return c2, err
}

func config(dir string, port int, pubFile string) []byte {
	app := map[string]any{"secret": secret}
	if pubFile != "" {
		app["public_keys"] = []any{map[string]any{"file": pubFile, "kid": "bench-es256"}}
	}
	admin := map[string]any{"disabled": true}
	if adminPort != 0 {
		admin = map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", adminPort)}
	}
	respond := map[string]any{"handler": "static_response", "body": "ok"}
	jwtAuth := map[string]any{"handler": "jwt_auth"}
	cfg := map[string]any{
		"admin":   admin,
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"apps": map[string]any{
			"jwt": app,
			"http": map[string]any{"servers": map[string]any{"bench": map[string]any{
				"listen":          []string{fmt.Sprintf("127.0.0.1:%d", port)},
				"automatic_https": map[string]any{"disable": true},
				"routes": []any{
					map[string]any{"match": []any{map[string]any{"path": []string{"/plain"}}}, "handle": []any{respond}},
					map[string]any{"match": []any{map[string]any{"path": []string{"/hs256", "/es256-hot", "/es256-distinct"}}}, "handle": []any{jwtAuth, respond}},
				},
			}}},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	check(err)
	return b
}

func runCaddy(bin, dir string, port int, cfg []byte) (*caddyProc, error) {
	cfgFile := filepath.Join(dir, "caddy.json")
	check(os.WriteFile(cfgFile, cfg, 0o600))
	logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
	check(err)
	cmd := exec.Command(bin, "run", "--config", cfgFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	check(cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			logFile.Close()
			out, _ := os.ReadFile(logFile.Name())
			return nil, errors.New(lastError(out))
		default:
		}
		if probe(port, "plain", "") == http.StatusOK {
			return &caddyProc{cmd: cmd, exited: exited}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return nil, errors.New("caddy did not answer within 15s")
}

// lastError picks the line of Caddy's log that says why it stopped.
func lastError(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Error") || strings.Contains(lines[i], "error") {
			return strings.TrimSpace(lines[i])
		}
	}
	return lines[len(lines)-1]
}

func probe(port int, route, token string) int {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/%s", port, route), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func claims(i int, exp int64) []byte {
	now := time.Now().Unix()
	b, err := json.Marshal(map[string]any{
		"sub": "user" + strconv.Itoa(i), "type": "access", "fresh": true,
		"jti": "jti-" + strconv.Itoa(i), "iat": now, "nbf": now, "exp": exp, "role": "admin",
	})
	check(err)
	return b
}

func mintHS256(i int, exp int64) string {
	input := b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64(claims(i, exp))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

func mintES256(k *ecdsa.PrivateKey, i int, exp int64) string {
	input := b64([]byte(`{"alg":"ES256","typ":"JWT","kid":"bench-es256"}`)) + "." + b64(claims(i, exp))
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	check(err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func writeTokens(path string, n int, mint func(int) string) {
	f, err := os.Create(path)
	check(err)
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		w.WriteString(mint(i))
		w.WriteByte('\n')
	}
	check(w.Flush())
	check(f.Close())
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	check(err)
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		if x < m {
			m = x
		}
	}
	return m
}

// running is the Caddy this run started; fatalf stops it before exiting.
var running *caddyProc

func fatalf(format string, args ...any) {
	running.stop()
	log.Fatalf(format, args...)
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}
