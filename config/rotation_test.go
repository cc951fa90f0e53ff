package config

import (
	"strings"
	"testing"
)

// TestRotationClass: the class defaults to generated; issued and never refuse rotate_every and generate
// at parse time with the line; allow_destroy names only never secrets.
func TestRotationClass(t *testing.T) {
	const at = "    file: secrets/webhook_token.txt\n"
	c, err := Parse("rekey.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Secrets["webhook-token"].RotationClass(); got != RotationGenerated {
		t.Errorf("default class = %s", got)
	}
	if msg := c.Secrets["webhook-token"].RefuseRotation("webhook-token"); msg != "" {
		t.Errorf("generated refused: %s", msg)
	}
	ok := strings.Replace(good, at, at+"    rotation: issued\n    rotation_reason: from the payment provider\n", 1)
	c, err = Parse("rekey.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if msg := c.Secrets["webhook-token"].RefuseRotation("webhook-token"); !strings.Contains(msg, "issued elsewhere (from the payment provider)") {
		t.Errorf("issued message = %q", msg)
	}
	for bad, want := range map[string]string{
		"    rotation: sometimes\n":                         `rekey.yaml:14: secret webhook-token: unknown rotation "sometimes" (want generated, issued or never)`,
		"    rotation: never\n    rotate_every: 90d\n":      `rekey.yaml:15: secret webhook-token: rotate_every on a secret with rotation: never`,
		"    rotation: issued\n    rotate_every: 90d\n":     `rekey.yaml:15: secret webhook-token: rotate_every on a secret with rotation: issued`,
		"    rotation: never\n    generate: {length: 64}\n": `rekey.yaml:15: secret webhook-token: generate on a secret with rotation: never`,
		"    rotation: generated\n    rotate_every: 90d\n":  "",
		"    rotation: never\n    rotation_reason: salt\n":  "",
	} {
		_, err := Parse("rekey.yaml", []byte(strings.Replace(good, at, at+bad, 1)))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: error %v, want %q", bad, err, want)
		}
	}
	never := strings.Replace(good, at, at+"    rotation: never\n", 1)
	if _, err := Parse("rekey.yaml", []byte(never+"allow_destroy: [webhook-token]\n")); err != nil {
		t.Errorf("allow_destroy of a never secret: %v", err)
	}
	if _, err := Parse("rekey.yaml", []byte(never+"allow_destroy: [backup-key]\n")); err == nil || !strings.Contains(err.Error(), `allow_destroy: "backup-key" is not a secret with rotation: never`) {
		t.Errorf("allow_destroy of a generated secret: %v", err)
	}
}
