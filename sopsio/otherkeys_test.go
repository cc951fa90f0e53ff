package sopsio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	agearmor "filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/getsops/sops/v3"
	"go.yaml.in/yaml/v3"
)

// dataKeyOf unwraps the data key of a document encrypted by Encrypt with
// the age identity id (its first age entry).
func dataKeyOf(t *testing.T, f Format, enc []byte, id *age.X25519Identity) []byte {
	t.Helper()
	wrapped := metadataOf(t, f, enc)["age.0.enc"]
	r, err := age.Decrypt(agearmor.NewReader(strings.NewReader(wrapped)), id)
	if err != nil {
		t.Fatal(err)
	}
	key, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pgpEntry encrypts dataKey to a new OpenPGP key exactly as sops does for a
// pgp master key, and returns the metadata entry and the key.
func pgpEntry(t *testing.T, dataKey []byte) (map[string]any, *openpgp.Entity) {
	t.Helper()
	e, err := openpgp.NewEntity("Ops", "", "ops@example.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw, err := pgparmor.Encode(&buf, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := openpgp.Encrypt(aw, []*openpgp.Entity{e}, nil, &openpgp.FileHints{IsBinary: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(dataKey); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"created_at": time.Now().UTC().Format(time.RFC3339),
		"enc":        buf.String() + "\n",
		"fp":         fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
	}, e
}

// withMetadata returns the encrypted document enc with field set to value
// in its sops metadata, leaving everything else (values, order, MAC) alone.
func withMetadata(t *testing.T, f Format, enc []byte, field string, value any) []byte {
	t.Helper()
	switch f {
	case FormatYAML:
		var doc yaml.Node
		if err := yaml.Unmarshal(enc, &doc); err != nil {
			t.Fatal(err)
		}
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value != "sops" {
				continue
			}
			var k, v yaml.Node
			k.SetString(field)
			if err := v.Encode(value); err != nil {
				t.Fatal(err)
			}
			top.Content[i+1].Content = append([]*yaml.Node{&k, &v}, top.Content[i+1].Content...)
			out, err := yaml.Marshal(&doc)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	case FormatJSON:
		v, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		const open = "\"sops\": {"
		if bytes.Count(enc, []byte(open)) != 1 {
			t.Fatalf("no single %q in\n%s", open, enc)
		}
		return bytes.Replace(enc, []byte(open), []byte(fmt.Sprintf("%s\n\t\t%q: %s,", open, field, v)), 1)
	}
	t.Fatalf("no sops metadata in %s", enc)
	return nil
}

// TestFileRecipientsRefusesOtherKeys: a values file whose data key is also
// encrypted to PGP, KMS or other keys still decrypts with its age key, but
// FileRecipients refuses it: a write-back re-encrypted to the age
// recipients alone would drop those readers.
func TestFileRecipientsRefusesOtherKeys(t *testing.T) {
	id := newIdentity(t)
	values := map[string]string{"DB_PASSWORD": "hunter2-correct-horse", "API_TOKEN": "tok-123456"}
	for _, f := range []Format{FormatYAML, FormatJSON} {
		t.Run(f.String(), func(t *testing.T) {
			enc, err := Encrypt(plainDoc(t, f, values), f, []string{id.Recipient().String()})
			if err != nil {
				t.Fatal(err)
			}
			dataKey := dataKeyOf(t, f, enc, id)
			entry, pgpKey := pgpEntry(t, dataKey)
			fp := entry["fp"].(string)

			for _, tc := range []struct {
				name  string
				field string
				value any
				want  []string // in the error
			}{
				{"pgp", "pgp", []any{entry}, []string{"pgp " + fp}},
				{"kms", "kms", []any{map[string]any{
					"arn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd", "created_at": "2026-01-01T00:00:00Z",
					"enc": "AQICAHhfakefakefake", "aws_profile": "",
				}}, []string{"kms arn:aws:kms:eu-west-1:111122223333:key/1234abcd"}},
				{"vault", "hc_vault", []any{map[string]any{
					"vault_address": "https://vault.example.test:8200", "engine_path": "sops", "key_name": "rekey",
					"created_at": "2026-01-01T00:00:00Z", "enc": "vault:v1:fake",
				}}, []string{"hc_vault https://vault.example.test:8200/v1/sops/keys/rekey"}},
				{"unknown key type", "quantum_kms", []any{map[string]any{"id": "q-1", "enc": "xyz"}},
					[]string{"quantum_kms keys (a key type this version of rekey does not know)"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					doc := withMetadata(t, f, enc, tc.field, tc.value)
					// A real sops file: the age key still opens it.
					got, err := DecryptValues(doc, "values."+f.String(), []age.Identity{id})
					if err != nil || !equalMaps(got, values) {
						t.Fatalf("DecryptValues = %v, %v", got, err)
					}
					_, err = FileRecipients(doc, f)
					e := wantReason(t, err, ReasonUnsupportedKeys)
					for _, w := range append(tc.want, "which rekey cannot encrypt to", "a write-back would drop those readers",
						"rotate this secret by committing a new value yourself") {
						if !strings.Contains(e.Error(), w) {
							t.Errorf("error %q does not say %q", e.Error(), w)
						}
					}
				})
			}

			// The PGP reader is real: its key unwraps the same data key from
			// the file.
			doc := withMetadata(t, f, enc, "pgp", []any{entry})
			wrapped := metadataOf(t, f, doc)["pgp.0.enc"]
			block, err := pgparmor.Decode(strings.NewReader(wrapped))
			if err != nil {
				t.Fatal(err)
			}
			md, err := openpgp.ReadMessage(block.Body, openpgp.EntityList{pgpKey}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(md.UnverifiedBody); err != nil || !bytes.Equal(got, dataKey) {
				t.Fatalf("the PGP key does not unwrap the data key: %v", err)
			}

			// Empty lists of other key types, as older sops versions wrote
			// them, name no reader: the age recipients are returned.
			doc = enc
			for _, field := range []string{"pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"} {
				doc = withMetadata(t, f, doc, field, []any{})
			}
			if got, err := FileRecipients(doc, f); err != nil || !slices.Equal(got, []string{id.Recipient().String()}) {
				t.Errorf("with empty key lists: FileRecipients = %v, %v", got, err)
			}
		})
	}
}

// TestFileRecipientsRefusesShamir: a file split into several key groups
// needs keys of several groups to decrypt; re-encrypting it to all its age
// recipients in one group would let any one of them read it alone.
func TestFileRecipientsRefusesShamir(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	values := map[string]string{"DB_PASSWORD": "hunter2-correct-horse"}
	store, err := FormatYAML.store()
	if err != nil {
		t.Fatal(err)
	}
	branches, err := store.LoadPlainFile(plainDoc(t, FormatYAML, values))
	if err != nil {
		t.Fatal(err)
	}
	ga, err := ageKeyGroup([]string{a.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	gb, err := ageKeyGroup([]string{b.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encryptTree(store, FormatYAML, branches, []sops.KeyGroup{ga, gb}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecryptValues(enc, "values.yaml", []age.Identity{a, b}); err != nil || !equalMaps(got, values) {
		t.Fatalf("DecryptValues with both keys = %v, %v", got, err)
	}
	_, err = FileRecipients(enc, FormatYAML)
	e := wantReason(t, err, ReasonUnsupportedKeys)
	if !strings.Contains(e.Error(), "split into 2 key groups (Shamir secret sharing, threshold 2)") {
		t.Errorf("error = %v", e)
	}
}

func TestFileRecipientsMalformed(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		reason Reason
	}{
		{"k: v\n", ReasonNotEncrypted},
		{"k: [\n", ReasonMalformed},
		{"k: v\nsops:\n    lastmodified: yesterday\n    age:\n        - recipient: age1x\n          enc: x\n", ReasonMalformed},
		{"k: v\nsops:\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: x\n", ReasonMalformed}, // no keys at all
	} {
		_, err := FileRecipients([]byte(tc.doc), FormatYAML)
		var e *Error
		if !errors.As(err, &e) || e.Reason != tc.reason {
			t.Errorf("FileRecipients(%q) = %v, want reason %s", tc.doc, err, tc.reason)
		}
	}
}
