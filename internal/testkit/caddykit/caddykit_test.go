package caddykit

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.RunWithStorage(m)) }

func TestCaddyfileAddsTheOptions(t *testing.T) {
	testPorts := testkit.NewPorts(t)
	p := func(s string) string { // the want with the test's ports
		return strings.NewReplacer("ADMIN", strconv.Itoa(testPorts.Admin), "HTTPS", strconv.Itoa(testPorts.HTTPS), "HTTP", strconv.Itoa(testPorts.HTTP)).Replace(s)
	}
	for _, c := range []struct {
		name, in, want string
	}{
		{
			name: "no global block",
			in:   "http://localhost {\n\trespond ok\n}\n",
			want: p("{\n\tadmin localhost:ADMIN\n\thttp_port HTTP\n\thttps_port HTTPS\n\tstorage file_system {$CADDY_JWT_TEST_STORAGE}\n\tpersist_config off\n\tskip_install_trust\n}\n\nhttp://localhost {\n\trespond ok\n}\n"),
		},
		{
			name: "a global block after a comment, with options of its own",
			in:   "# the test's\n{\n\tadmin off\n\tstorage file_system /x\n\tauto_https off\n}\nhttp://127.0.0.1 {\n\trespond \"{$REVTEST_NAME}\"\n}\n",
			want: p("# the test's\n{\n\thttp_port HTTP\n\thttps_port HTTPS\n\tpersist_config off\n\tskip_install_trust\n\n\tadmin off\n\tstorage file_system /x\n\tauto_https off\n}\nhttp://127.0.0.1 {\n\trespond \"{$REVTEST_NAME}\"\n}\n"),
		},
	} {
		got, err := Caddyfile(c.in, testPorts, "")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
	got, err := Caddyfile("{\n}\n", testPorts, "/tmp/a dir")
	if err != nil || !strings.Contains(got, "\tstorage file_system \"/tmp/a dir\"\n") {
		t.Errorf("own storage: %q %v", got, err)
	}
}

func TestAdaptRefusesAFixedPort(t *testing.T) {
	testPorts := testkit.NewPorts(t)
	for _, site := range []string{"http://localhost", "http://", "http://127.0.0.1"} {
		text, err := Caddyfile(site+" {\n\trespond ok\n}\n", testPorts, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Adapt(t, text, testPorts); err != nil {
			t.Errorf("%s: %v", site, err)
		}
	}
	other := ":" + strconv.Itoa(testkit.FreePort(t)) // a port that is not the test's
	text, err := Caddyfile("http://localhost"+other+" {\n\trespond ok\n}\n", testPorts, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Adapt(t, text, testPorts); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("a site on %s: %v, want a refusal that names the port", other, err)
	}
}
