package sopsio

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// Regenerate the encrypted testdata files with
//
//	go test ./sopsio/ -run TestTestdata -update
//
// Only do so on purpose: the committed files catch format changes between
// sops versions, which must keep decrypting.
var update = flag.Bool("update", false, "rewrite the encrypted files in testdata/")

// testdataRecipient is the public key of the test-only testdata/keys.txt.
const testdataRecipient = "age1htne0q86y3tl067ckq89jz27rajz8tx7w49v06h5lgf66ttgvugsx9f89c"

var testdataValues = map[string]string{
	"DB_PASSWORD": `s3cr3t "quoted" 'single' $dollar #hash`,
	"API_TOKEN":   "tok-ünïcode-🔑",
	"MULTILINE":   "line one\nline two",
	"PADDED":      "  padded  ",
}

func testdataIdentities(t *testing.T) []age.Identity {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := LoadIdentities(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids[0].(*age.X25519Identity).Recipient().String(); got != testdataRecipient {
		t.Fatalf("testdata/keys.txt holds %s, want %s", got, testdataRecipient)
	}
	return ids
}

// TestTestdata decrypts files committed in testdata/: written by Encrypt
// (secrets.sops.*) and by the sops 3.13.3 CLI (cli.sops.*, with
// `SOPS_AGE_KEY_FILE=testdata/keys.txt sops --encrypt --age <recipient>`).
func TestTestdata(t *testing.T) {
	ids := testdataIdentities(t)
	if *update {
		for _, tc := range formats {
			enc, err := Encrypt(plainDoc(t, tc.format, testdataValues), tc.format, []string{testdataRecipient})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", tc.path), enc, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{
		"secrets.sops.yaml", "secrets.sops.json", "secrets.sops.env",
		"cli.sops.yaml", "cli.sops.json", "cli.sops.env",
	} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecryptValues(data, name, ids)
			if err != nil {
				t.Fatal(err)
			}
			if !equalMaps(got, testdataValues) {
				t.Errorf("got %q, want %q", got, testdataValues)
			}
			_, err = DecryptValues(data, name, []age.Identity{newIdentity(t)})
			wantReason(t, err, ReasonNoMatchingKey)
		})
	}
}
