package swarmio

import (
	"errors"
	"strings"
	"testing"
)

const stackFile = `# the shop stack
services:
  api:
    image: shop/api # name: not this one
    secrets: [app_key]
secrets:
  app_key:
    name: shop_app_key_v1   # rekey moves this
    file: ./secrets/app_key
  quoted:
    file: ./q
    name: "shop_quoted_1"
  bare:
    file: ./b
`

func TestSetSecretNameKeepsEveryOtherByte(t *testing.T) {
	out, err := SetSecretName([]byte(stackFile), "app_key", "shop_app_key_0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(stackFile, "shop_app_key_v1", "shop_app_key_0123456789ab", 1)
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if got, err := SecretName(out, "app_key"); err != nil || got != "shop_app_key_0123456789ab" {
		t.Fatalf("read back %q, %v", got, err)
	}
	out, err = SetSecretName([]byte(stackFile), "quoted", "x_2")
	if err != nil || !strings.Contains(string(out), `name: "x_2"`) {
		t.Fatalf("quoted: %v\n%s", err, out)
	}
}

func TestSecretNameRefusals(t *testing.T) {
	if _, err := SecretName([]byte(stackFile), "bare"); !errors.Is(err, ErrNoName) {
		t.Errorf("bare: %v, want ErrNoName", err)
	}
	if _, err := SecretName([]byte(stackFile), "nope"); !errors.Is(err, ErrNoName) {
		t.Errorf("missing: %v, want ErrNoName", err)
	}
	interp := "secrets:\n  k:\n    name: ${NAME}\n    file: ./k\n"
	if _, err := SecretName([]byte(interp), "k"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("interpolated name: %v, want a refusal naming line 3", err)
	}
	folded := "secrets:\n  k:\n    name: >-\n      a_b\n    file: ./k\n"
	if _, err := SetSecretName([]byte(folded), "k", "c_d"); err == nil {
		t.Error("a folded scalar was rewritten")
	}
	if _, err := SetSecretName([]byte(stackFile), "app_key", "bad name"); err == nil {
		t.Error("an invalid name was written")
	}
	if _, err := SetSecretName([]byte(stackFile), "app_key", strings.Repeat("a", 65)); err == nil {
		t.Error("a name over 64 characters was written")
	}
}
