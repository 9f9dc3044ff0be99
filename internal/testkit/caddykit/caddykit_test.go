package caddykit

import (
	"os"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.RunWithStorage(m)) }

var testPorts = testkit.Ports{Admin: 40001, HTTP: 40002, HTTPS: 40003}

func TestCaddyfileAddsTheOptions(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
	}{
		{
			name: "no global block",
			in:   "http://localhost {\n\trespond ok\n}\n",
			want: "{\n\tadmin localhost:40001\n\thttp_port 40002\n\thttps_port 40003\n\tstorage file_system {$CADDY_JWT_TEST_STORAGE}\n\tpersist_config off\n\tskip_install_trust\n}\n\nhttp://localhost {\n\trespond ok\n}\n",
		},
		{
			name: "a global block after a comment, with options of its own",
			in:   "# the test's\n{\n\tadmin off\n\tstorage file_system /x\n\tauto_https off\n}\nhttp://127.0.0.1 {\n\trespond \"{$REVTEST_NAME}\"\n}\n",
			want: "# the test's\n{\n\thttp_port 40002\n\thttps_port 40003\n\tpersist_config off\n\tskip_install_trust\n\n\tadmin off\n\tstorage file_system /x\n\tauto_https off\n}\nhttp://127.0.0.1 {\n\trespond \"{$REVTEST_NAME}\"\n}\n",
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
	for _, site := range []string{"http://localhost", "http://", "http://127.0.0.1"} {
		text, err := Caddyfile(site+" {\n\trespond ok\n}\n", testPorts, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Adapt(t, text, testPorts); err != nil {
			t.Errorf("%s: %v", site, err)
		}
	}
	text, err := Caddyfile("http://localhost:8080 {\n\trespond ok\n}\n", testPorts, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Adapt(t, text, testPorts); err == nil || !strings.Contains(err.Error(), ":8080") {
		t.Errorf("a site on :8080: %v, want a refusal that names the port", err)
	}
}
