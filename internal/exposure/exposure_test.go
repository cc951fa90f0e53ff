package exposure

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReachable(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": false, "127.9.9.9:1": false, "[::1]:1": false, "localhost:1": false, "[::ffff:127.0.0.1]:1": false,
		":1": true, "0.0.0.0:1": true, "[::]:1": true, "10.0.0.1:1": true, "host.example:1": true, "ip6-localhost:1": true,
	} {
		got, err := Reachable(addr)
		if err != nil || got != want {
			t.Errorf("Reachable(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := Reachable("127.0.0.1"); err == nil {
		t.Error("Reachable of an address without a port succeeded")
	}
}

func TestCheck(t *testing.T) {
	if err := Check("thing", "0.0.0.0:1", false, "set --auth"); err == nil ||
		err.Error() != "the thing on 0.0.0.0:1 is reachable from other hosts: bind it to 127.0.0.1 or set --auth" {
		t.Errorf("Check of a public address = %v", err)
	}
	if err := Check("thing", "0.0.0.0:1", true, "set --auth"); err != nil {
		t.Errorf("Check of a public address with auth = %v", err)
	}
	if err := Check("thing", "nope", true, "set --auth"); err == nil || !strings.HasPrefix(err.Error(), `invalid thing address "nope"`) {
		t.Errorf("Check of an invalid address = %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	a := NewBasicAuth("u", "password-123456")
	for _, tc := range []struct {
		user, pass string
		set, want  bool
	}{
		{"", "", false, false},
		{"u", "password-123456", true, true},
		{"u", "password-12345", true, false},
		{"v", "password-123456", true, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.set {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		if got := a.Allowed(r); got != tc.want {
			t.Errorf("Allowed(%q, %q) = %v, want %v", tc.user, tc.pass, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("u", "")
	if NewBasicAuth("u", "").Allowed(r) {
		t.Error("an empty password let someone in")
	}
}
