package mariadb

import (
	"slices"
	"strings"
	"testing"
)

func TestNativeHash(t *testing.T) {
	for v, want := range map[string]string{
		"password": "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", // the documented vector
		"pw1":      "*2B602296A79E0A8784ACC5C88D92E46588CCA3C3", // PASSWORD('pw1') on MariaDB 10.11
	} {
		if got := nativeHash(v); got != want {
			t.Errorf("nativeHash(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"app":     "'app'",
		"o'brien": "'o''brien'",
		`a\b`:     "_utf8mb4 X'615c62'",
		"a\nb":    "_utf8mb4 X'610a62'",
	} {
		if got := literal(in); got != want {
			t.Errorf("literal(%q) = %s, want %s", in, got, want)
		}
	}
	if got := account("we`ird", "%"); got != "`we``ird`@`%`" {
		t.Errorf("account = %s", got)
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`a\\b\tc\nd`); got != "a\\b\tc\nd" {
		t.Errorf("unescape = %q", got)
	}
}

func TestFirstError(t *testing.T) {
	out := "row\n--------------\nALTER USER x USING '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'\n--------------\n\n" +
		"ERROR 1064 (42000) at line 1: You have an error near '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' at line 1\nERROR 2 later\n"
	e := firstError(out)
	if e == nil || e.num != 1064 {
		t.Fatalf("firstError = %v", e)
	}
	if strings.Contains(e.text, "2470C0") {
		t.Errorf("a hash survived: %s", e.text)
	}
	if e := firstError("ERROR 2002 (HY000): Can't connect to local server through socket"); e == nil || !e.unreachable() {
		t.Errorf("2002 = %v", e)
	}
}

func TestParseUser(t *testing.T) {
	chain := `{"access":0,"plugin":"mysql_native_password","authentication_string":"*B27918D2D9402882CEADA0EF687D35FBDC137D72",` +
		`"auth_or":[{},{"plugin":"mysql_native_password","authentication_string":"*2B602296A79E0A8784ACC5C88D92E46588CCA3C3"}]}`
	u, err := parseUser("app", "%", chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.chain) != 2 || u.chain[0].AuthString != "*B27918D2D9402882CEADA0EF687D35FBDC137D72" || !u.holds("pw1") || u.holds("pw3") || !u.open() {
		t.Errorf("chain parsed as %+v", u)
	}
	locked, err := parseUser("b", "%", `{"plugin":"mysql_native_password","authentication_string":"invalid","account_locked":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if locked.open() || !locked.locked || locked.holds("invalid") {
		t.Errorf("locked parsed as %+v", locked)
	}
	unlockedInvalid, _ := parseUser("b", "%", `{"plugin":"mysql_native_password","authentication_string":"invalid"}`)
	if unlockedInvalid.open() {
		t.Error("an unlocked user with no valid password counts as open")
	}
	sock, _ := parseUser("root", "localhost", `{"plugin":"unix_socket","authentication_string":""}`)
	if got := sock.others(); !slices.Equal(got, []string{"unix_socket"}) {
		t.Errorf("others = %v", got)
	}
}

func TestGrantRewrite(t *testing.T) {
	a, b := account("app_a", "%"), account("app_b", "%")
	lines := []string{
		"GRANT `r1` TO `app_a`@`%`",
		"GRANT PROCESS ON *.* TO `app_a`@`%` IDENTIFIED BY PASSWORD '*B27918D2D9402882CEADA0EF687D35FBDC137D72' WITH MAX_USER_CONNECTIONS 5",
		"GRANT USAGE ON *.* TO `app_a`@`%` IDENTIFIED VIA mysql_native_password USING '*B2' OR unix_socket REQUIRE SSL",
		"GRANT ALL PRIVILEGES ON `app_a`.* TO `app_a`@`%`",
		"GRANT SELECT (`we``ird`, `id`) ON `app`.`t` TO `app_a`@`%`",
		"GRANT PROXY ON ``@`%` TO `app_a`@`%` WITH GRANT OPTION",
		"SET DEFAULT ROLE `r1` FOR `app_a`@`%`",
	}
	want := []string{
		"GRANT `r1` TO `app_b`@`%`",
		"GRANT PROCESS ON *.* TO `app_b`@`%` WITH MAX_USER_CONNECTIONS 5",
		"GRANT USAGE ON *.* TO `app_b`@`%` REQUIRE SSL",
		"GRANT ALL PRIVILEGES ON `app_a`.* TO `app_b`@`%`",
		"GRANT SELECT (`we``ird`, `id`) ON `app`.`t` TO `app_b`@`%`",
		"GRANT PROXY ON ``@`%` TO `app_b`@`%` WITH GRANT OPTION",
		"SET DEFAULT ROLE `r1` FOR `app_b`@`%`",
	}
	for i, l := range lines {
		got, ok := rewrite(l, a, b)
		if !ok || got != want[i] {
			t.Errorf("rewrite(%q) = %q, %v; want %q", l, got, ok, want[i])
		}
	}
	if _, ok := rewrite("GRANT USAGE ON *.* TO `other`@`%`", a, b); ok {
		t.Error("rewrite accepted a line for another grantee")
	}
	onlyA, onlyB, err := same(lines, want, a, b)
	if err != nil || len(onlyA) != 0 || len(onlyB) != 0 {
		t.Errorf("same = %q, %q, %v", onlyA, onlyB, err)
	}
	if got := sortColumns("GRANT SELECT (`we``ird`, `id`), INSERT (`z`, `a(b`) ON `app`.`t` TO x"); got != "GRANT SELECT (`id`, `we``ird`), INSERT (`a(b`, `z`) ON `app`.`t` TO x" {
		t.Errorf("sortColumns = %s", got)
	}
	onlyA, onlyB, _ = same(lines[:1], []string{"GRANT PROCESS ON *.* TO `app_b`@`%`"}, a, b)
	if !slices.Equal(onlyA, []string{"GRANT `r1` TO <login>"}) || !slices.Equal(onlyB, []string{"GRANT PROCESS ON *.* TO <login>"}) {
		t.Errorf("same = %q, %q", onlyA, onlyB)
	}
	rv := revokeAll(want, b)
	for _, s := range []string{"REVOKE ALL PRIVILEGES, GRANT OPTION FROM `app_b`@`%`", "REVOKE `r1` FROM `app_b`@`%`", "REVOKE PROXY ON ``@`%` FROM `app_b`@`%`", "SET DEFAULT ROLE NONE FOR `app_b`@`%`"} {
		if !slices.Contains(rv, s) {
			t.Errorf("revokeAll lacks %q: %q", s, rv)
		}
	}
}

func TestSupported(t *testing.T) {
	for v, ok := range map[string]bool{
		"10.11.19-MariaDB-0+deb12u1": true,
		"11.4.2-MariaDB":             true,
		"10.4.0-MariaDB":             true,
		"10.3.39-MariaDB":            false,
		"8.0.36":                     false,
	} {
		if err := supported(v); (err == nil) != ok {
			t.Errorf("supported(%s) = %v", v, err)
		}
	}
}
