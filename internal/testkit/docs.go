package testkit

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// DocBlocks returns the fenced code blocks of language lang (the word after
// the opening fence) in the section of the Markdown file path that starts
// at the heading line heading ("## Logs and fail2ban") and runs to the next
// heading of the same or a higher level. A block indented under a list item
// comes back without its indentation. The tests that run the docs' examples
// read them through it, so an example cannot drift from what is tested.
// It fails the test when the file or the heading is missing.
func DocBlocks(tb testing.TB, path, heading, lang string) []string {
	tb.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	level := len(heading) - len(strings.TrimLeft(heading, "#"))
	var blocks []string
	in, found := false, false
	var fence, indent string // the open fence, and its indentation
	var cur []string
	for _, line := range strings.Split(string(text), "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if fence != "" {
			if strings.TrimSpace(line) == "```" {
				if in && fence == "```"+lang {
					blocks = append(blocks, strings.Join(cur, "\n")+"\n")
				}
				fence, cur = "", nil
				continue
			}
			cur = append(cur, strings.TrimPrefix(line, indent))
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			fence, indent = strings.TrimSpace(trimmed), line[:len(line)-len(trimmed)]
			continue
		}
		if h := len(line) - len(strings.TrimLeft(line, "#")); h > 0 && strings.HasPrefix(line[h:], " ") {
			if in && h <= level {
				break
			}
			if line == heading {
				in, found = true, true
			}
		}
	}
	if !found {
		tb.Fatalf("%s has no heading %q", path, heading)
	}
	return blocks
}

// reverseProxyLine is a docs example's `reverse_proxy <upstream>`.
var reverseProxyLine = regexp.MustCompile(`(?m)\breverse_proxy [^\s{}]+$`)

// ReplaceReverseProxy puts repl in place of every `reverse_proxy
// <upstream>` line of a docs example, whatever address the docs give, so
// that a test runs the example against its own upstream (or a respond)
// on a port of its own. It fails the test when the example has none.
func ReplaceReverseProxy(tb testing.TB, block, repl string) string {
	tb.Helper()
	if !reverseProxyLine.MatchString(block) {
		tb.Fatalf("the example has no reverse_proxy line:\n%s", block)
	}
	return reverseProxyLine.ReplaceAllLiteralString(block, repl)
}
