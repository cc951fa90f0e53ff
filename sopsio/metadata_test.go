package sopsio

import (
	"errors"
	"slices"
	"testing"

	"filippo.io/age"
)

func TestFileRecipients(t *testing.T) {
	a, _ := age.GenerateX25519Identity()
	b, _ := age.GenerateX25519Identity()
	want := []string{a.Recipient().String(), b.Recipient().String()}
	for _, f := range []Format{FormatYAML, FormatJSON} {
		plain := []byte("k: v\n")
		if f == FormatJSON {
			plain = []byte(`{"k": "v"}`)
		}
		enc, err := Encrypt(plain, f, want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FileRecipients(enc, f)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%v: FileRecipients = %v, %v; want %v", f, got, err, want)
		}
	}
	var e *Error
	if _, err := FileRecipients([]byte("k: v\n"), FormatYAML); !errors.As(err, &e) || e.Reason != ReasonNotEncrypted {
		t.Errorf("plain file: %v", err)
	}
	if _, err := FileRecipients([]byte("K=v\n"), FormatDotenv); err == nil {
		t.Error("dotenv accepted")
	}
}
