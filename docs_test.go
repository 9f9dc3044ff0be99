package jwtextended

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// caddyfileBlock matches a fenced caddyfile block of a Markdown file, at
// the start of a line or indented in a list item.
var caddyfileBlock = regexp.MustCompile("(?sm)^([ \t]*)```caddyfile\n(.*?)^[ \t]*```")

// grammar marks a syntax block (`<path>`, `[<matcher>]`, `on|off`): it
// describes the grammar and is not meant to adapt; so does an elided one
// (`...` standing alone, as in `jwt_issue { ... }`). An elided value inside
// a word, such as the hash in `user alice $2a$14$...`, is not grammar:
// that block adapts and is checked.
var grammar = regexp.MustCompile(`<[a-z_|.-]+>|\w\|\w|(?m:(^|\s)\.\.\.(\s|$))`)

// notInThisBuild names modules the docs show that this repository's Caddy
// does not include; such blocks cannot adapt here.
var notInThisBuild = regexp.MustCompile(`storage redis`)

// docCaddyfile is one fenced caddyfile block of the docs, the n-th of its
// file.
type docCaddyfile struct {
	file string
	n    int
	text string
}

// docCaddyfiles lists the caddyfile blocks of README.md and docs/*.md that
// are configs, not grammar, and that this build can adapt.
func docCaddyfiles(t testing.TB) []docCaddyfile {
	t.Helper()
	files, _ := filepath.Glob("docs/*.md")
	files = append([]string{"README.md"}, files...)
	var out []docCaddyfile
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range caddyfileBlock.FindAllStringSubmatch(string(text), -1) {
			block := dedent(m[2], m[1])
			if !grammar.MatchString(block) && !notInThisBuild.MatchString(block) {
				out = append(out, docCaddyfile{f, i + 1, block})
			}
		}
	}
	return out
}

// TestDocsCaddyfilesAdapt adapts every Caddyfile in README.md and docs/*.md
// (and the examples), as `caddy adapt` would, so that the docs cannot drift
// from the code: each must adapt without error and be formatted as
// `caddy fmt` writes it (tabs, one space between words and before a
// comment), checked both on the block itself and through the adapter's
// "input is not formatted" warning. A snippet that is only a directive is
// adapted inside a site block. Syntax blocks (with <placeholders>) are
// skipped.
func TestDocsCaddyfilesAdapt(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	checked := 0
	for _, d := range docCaddyfiles(t) {
		f, n, block := d.file, d.n, d.text
		checked++
		if formatted := caddyfile.Format([]byte(block)); !bytes.Equal(formatted, []byte(block)) {
			t.Errorf("%s, caddyfile block %d is not formatted as `caddy fmt` writes it (line %d); formatted:\n%s",
				f, n, firstDifference(block, string(formatted)), formatted)
		}
		input := block
		first := strings.TrimSpace(strings.SplitN(strings.TrimSpace(block), "\n", 2)[0])
		switch {
		case strings.HasPrefix(first, "jwt {"):
			input = "{\n" + indent(block) + "}\n" // the global option alone
		case strings.HasPrefix(first, "jwt_auth") || strings.HasPrefix(first, "jwt_issue") || strings.HasPrefix(first, "jwt_strip") || strings.HasPrefix(first, "handle") || strings.HasPrefix(first, "route"):
			input = "example.com {\n" + indent(block) + "}\n"
		}
		// The filename is Caddy's default, "Caddyfile": a Caddy whose
		// adapter checks the formatting only of files so named then
		// still warns; errors name the Markdown file below.
		_, warnings, err := adapter.Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			t.Errorf("%s, caddyfile block %d does not adapt: %v\n%s", f, n, err, block)
			continue
		}
		for _, w := range warnings {
			t.Errorf("%s, caddyfile block %d: %s\n%s", f, n, w.Message, block)
		}
	}
	for _, f := range []string{"Caddyfile.example", "examples/delegated/Caddyfile"} {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if _, warnings, err := adapter.Adapt(text, map[string]any{"filename": f}); err != nil || len(warnings) > 0 {
			t.Errorf("%s: %v %v", f, err, warnings)
		}
	}
	t.Logf("%d Caddyfiles adapted", checked)
	if checked < 10 {
		t.Fatalf("only %d Caddyfiles found in the docs", checked)
	}
}

// firstDifference returns the first line, counted from 1, where a and b
// differ.
func firstDifference(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return i + 1
		}
	}
	return len(al) + 1
}

// dedent removes a list item's indentation from each line of a block.
func dedent(s, prefix string) string {
	if prefix == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestDocsSyntaxMatchesReadme keeps the syntax blocks of docs/*.md (the
// grammar blocks, with <placeholders>) to the README's, which are the
// source of truth: a block that opens like one of the README's
// (`jwt_issue [<matcher>] {`) is that block, unchanged, unless it elides
// lines with `...`; any other is a part of one README syntax block, each
// of its lines one of that block's, in the same order (indentation aside,
// so a nested block such as `jwt { cookie { ... } }` may stand alone).
func TestDocsSyntaxMatchesReadme(t *testing.T) {
	readme := syntaxBlocks(t, "README.md")
	if len(readme) < 3 {
		t.Fatalf("README.md has %d syntax blocks, want those of the jwt option, jwt_auth and jwt_issue", len(readme))
	}
	files, _ := filepath.Glob("docs/*.md")
	checked := 0
	for _, f := range files {
		for i, block := range syntaxBlocks(t, f) {
			checked++
			lines := syntaxLines(block)
			elided := len(lines) != len(strings.Split(strings.TrimSpace(block), "\n"))
			first := strings.SplitN(block, "\n", 2)[0]
			var same string
			for _, r := range readme {
				if strings.Contains(first, "[<matcher>]") && strings.SplitN(r, "\n", 2)[0] == first {
					same = r
				}
			}
			switch {
			case same != "" && !elided:
				if block != same {
					t.Errorf("%s, syntax block %d differs from the README's from line %d; the README's:\n%s", f, i+1, firstDifference(block, same), same)
				}
			case !partOfAny(lines, readme):
				t.Errorf("%s, syntax block %d is not a part of a README syntax block (each line one of the block's, in its order):\n%s", f, i+1, block)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no syntax blocks found in docs/*.md")
	}
}

// syntaxBlocks returns the grammar blocks among a Markdown file's
// caddyfile blocks.
func syntaxBlocks(t *testing.T, path string) []string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range caddyfileBlock.FindAllStringSubmatch(string(text), -1) {
		if block := dedent(m[2], m[1]); grammar.MatchString(block) {
			out = append(out, block)
		}
	}
	return out
}

// syntaxLines returns a block's lines without their indentation, leaving
// out blank lines and the elision `...`.
func syntaxLines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "..." {
			out = append(out, l)
		}
	}
	return out
}

// partOfAny reports whether lines are, in order, lines of one of blocks.
func partOfAny(lines []string, blocks []string) bool {
	for _, b := range blocks {
		of, i := syntaxLines(b), 0
		for _, l := range of {
			if i < len(lines) && l == lines[i] {
				i++
			}
		}
		if i == len(lines) {
			return true
		}
	}
	return false
}
