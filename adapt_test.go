package jwtextended

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// adaptUpdate rewrites the JSON half of every golden file from the current
// adapter output: go test -run TestAdapt -update, then review the diff.
var adaptUpdate = flag.Bool("update", false, "rewrite testdata/adapt/*.caddyfiletest goldens from the adapter output")

// TestAdapt runs every testdata/adapt/*.caddyfiletest through the Caddyfile
// adapter. A file is a Caddyfile, a line of ten dashes, then either the
// expected JSON (compared exactly, tab-indented, as Caddy's own adapt tests
// do) or, for a Caddyfile that must not adapt, a substring of the error.
func TestAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "adapt", "*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n----------\n", 2)
			if len(parts) != 2 {
				t.Fatalf("%s: no ---------- separator line", file)
			}
			caddyfile, expected := strings.TrimSpace(parts[0])+"\n", strings.TrimSpace(parts[1])

			result, warnings, err := adapter.Adapt([]byte(caddyfile), nil)
			for _, w := range warnings {
				t.Errorf("adapter warning: line %d: %s: %s", w.Line, w.Directive, w.Message)
			}
			if !strings.HasPrefix(expected, "{") {
				// an error case
				if err == nil {
					t.Fatalf("adapted without error; want one containing %q", expected)
				}
				if !strings.Contains(err.Error(), expected) {
					t.Errorf("error %q does not contain %q", err, expected)
				}
				return
			}
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, result, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSpace(pretty.String())
			if *adaptUpdate {
				if got != expected {
					out := caddyfile + "----------\n" + got + "\n"
					if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("updated %s", file)
				}
				return
			}
			if got != expected {
				t.Errorf("adapted JSON differs from %s (regenerate with: go test -run TestAdapt -update, then review the diff)\n%s",
					file, adaptDiff(expected, got))
			}
		})
	}
}

// adaptDiff lists the lines that differ, with their line numbers.
func adaptDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  - " + wl + "\n  + " + gl + "\n")
		}
	}
	return b.String()
}
