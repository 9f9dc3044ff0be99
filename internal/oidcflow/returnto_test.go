package oidcflow

import (
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	allowed := []string{"https://app.example.com", "http://dev.example:3000", "https://Admin.Example.com:8443"}
	for _, c := range []struct{ in, want string }{
		// paths of this site
		{"/", "/"},
		{"/dashboard", "/dashboard"},
		{"/a/b?c=d&e=%2F#frag", "/a/b?c=d&e=%2F#frag"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/café", "/café"},
		// protocol-relative and its disguises
		{"//evil.com", "/"},
		{"//evil.com/path", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/a\\b", "/"},
		{"/%2F%2Fevil.com", "/"},
		{"/%2Fevil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"%2F%2Fevil.com", "/"},
		{"/%zz", "/"},
		// control characters and spaces
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/a\r\nSet-Cookie: x=y", "/"},
		{"/a\x00b", "/"},
		{"/a\x7fb", "/"},
		{"/a\u0085b", "/"},
		{" /a", "/"},
		{"/a b", "/"},
		{"\t//evil.com", "/"},
		{"/\xff", "/"},
		// other schemes and relative references
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"data:text/html,<script>", "/"},
		{"mailto:a@example.com", "/"},
		{"dashboard", "/"},
		{"./dashboard", "/"},
		{"../x", "/"},
		{"?a=b", "/"},
		{"#x", "/"},
		{"", "/"},
		// absolute URLs
		{"https://app.example.com/x?y=z", "https://app.example.com/x?y=z"},
		{"https://APP.example.COM/x", "https://APP.example.COM/x"},
		{"HTTPS://app.example.com/x", "HTTPS://app.example.com/x"},
		{"https://app.example.com:443/x", "https://app.example.com:443/x"},
		{"https://app.example.com", "https://app.example.com"},
		{"https://app.example.com:8443/x", "/"},
		{"http://app.example.com/x", "/"},
		{"https://evil.com", "/"},
		{"https://app.example.com.evil.com/", "/"},
		{"https://evil.com/https://app.example.com", "/"},
		{"https://app.example.com@evil.com/", "/"},
		{"https://user@app.example.com/", "/"},
		{"https:/app.example.com/x", "/"},
		{"https:app.example.com", "/"},
		{"https://app.example.com:/x", "/"},
		{"http://dev.example:3000/cb", "http://dev.example:3000/cb"},
		{"http://dev.example:3001/cb", "/"},
		{"http://dev.example/cb", "/"},
		{"https://admin.example.com:8443/", "https://admin.example.com:8443/"},
		{"https://admin.example.com/", "/"},
		{"https://[::1]/", "/"},
		{"https://app.example.com/" + strings.Repeat("a", MaxReturnTo), "/"},
		{"/" + strings.Repeat("a", MaxReturnTo), "/"},
	} {
		if got := SafeReturnTo(c.in, allowed); got != c.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := SafeReturnTo("https://app.example.com/x", nil); got != "/" {
		t.Errorf("no allowed origins: %q", got)
	}
	for _, o := range []string{"https://[2001:db8::1]", "https://[2001:db8::1]:8443"} {
		if got := SafeReturnTo(o+"/x", []string{o}); got != o+"/x" {
			t.Errorf("IPv6 origin %s: %q", o, got)
		}
	}
}
