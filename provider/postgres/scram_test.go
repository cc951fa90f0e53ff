package postgres

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// TestSCRAMKnownVector checks the key derivation against the SCRAM-SHA-256 exchange in RFC 7677 section
// 3 (user "user", password "pencil"): the StoredKey must turn the client's proof back into a ClientKey
// that hashes to it (which is how the server checks a login), and the ServerKey must sign the exchange
// as the server did.
func TestSCRAMKnownVector(t *testing.T) {
	b64 := base64.StdEncoding
	salt, _ := b64.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	const authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	proof, _ := b64.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	const serverSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

	stored, server, err := scramKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	clientSig := hmacSHA256(stored, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	if h := sha256.Sum256(clientKey); !hmac.Equal(h[:], stored) {
		t.Error("the StoredKey does not check the RFC 7677 client proof")
	}
	if got := b64.EncodeToString(hmacSHA256(server, authMessage)); got != serverSignature {
		t.Errorf("server signature = %s, want %s", got, serverSignature)
	}

	// The verifier built from the same salt holds those keys, and accepts pencil only.
	v, err := buildVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + b64.EncodeToString(stored) + ":" + b64.EncodeToString(server)
	if v != want {
		t.Errorf("verifier = %s, want %s", v, want)
	}
	if !accepts(v, "user", "pencil") || accepts(v, "user", "pencil2") || accepts(v, "user", "") {
		t.Error("the verifier of pencil accepts the wrong passwords")
	}
}

func TestNewVerifier(t *testing.T) {
	const pw = `rk1 'q' "d" \b $x;é`
	v1, err := newVerifier(pw)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := newVerifier(pw)
	if v1 == v2 {
		t.Error("two verifiers of one password share a salt")
	}
	p, ok := parseVerifier(v1)
	if !ok || p.iterations != 4096 || len(p.salt) != 16 {
		t.Fatalf("verifier %q: parsed %v, iterations %d, salt %d bytes", v1, ok, p.iterations, len(p.salt))
	}
	if strings.Contains(v1, pw) || strings.ContainsAny(v1, "' \\") {
		t.Errorf("verifier %q holds more than base64 and separators", v1)
	}
	if !accepts(v1, "x", pw) || accepts(v1, "x", pw+" ") {
		t.Error("a fresh verifier does not accept exactly its password")
	}
}

func TestParseVerifier(t *testing.T) {
	for _, s := range []string{
		"", "md5d41d8cd98f00b204e9800998ecf8427e", "plain",
		"SCRAM-SHA-256$", "SCRAM-SHA-256$4096:c2FsdA==", "SCRAM-SHA-256$x:c2FsdA==$a:b",
		"SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=", // keys of the wrong length
		"SCRAM-SHA-256$0:c2FsdA==$" + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + "=",
	} {
		if _, ok := parseVerifier(s); ok {
			t.Errorf("parseVerifier(%q) accepted it", s)
		}
	}
}

// TestMD5 checks the legacy md5 hashes PostgreSQL stores: "md5" + md5(password + role name).
func TestMD5(t *testing.T) {
	// md5("secret" + "alice"), as PostgreSQL stores it for role alice.
	stored := "md5" + "4a0a68b43b6cd5cf266fa02f196e2371"
	if !accepts(stored, "alice", "secret") {
		t.Error("md5 hash of secret/alice does not accept secret")
	}
	if accepts(stored, "bob", "secret") || accepts(stored, "alice", "Secret") {
		t.Error("md5 hash accepts the wrong role or password")
	}
}

func TestSASLprep(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"ascii unchanged", "pencil", "pencil"},
		{"ascii control unchanged (pure ASCII skips SASLprep)", "a\x01b", "a\x01b"},
		{"ascii keeps spaces and symbols", ` 'q' "d" \b $x; `, ` 'q' "d" \b $x; `},
		{"precomposed stays", "é", "é"},
		{"decomposed composes (NFKC)", "e\u0301", "é"},
		{"ligature decomposes (NFKC)", "\ufb01x", "fix"},
		{"fullwidth folds (NFKC)", "\uff21\uff22", "AB"},
		{"roman numeral (NFKC)", "\u2168", "IX"},
		{"no-break space to space", "a\u00a0b", "a b"},
		{"ideographic space to space", "a\u3000b", "a b"},
		{"zero width space is a space in RFC 3454", "a\u200bb", "a b"},
		{"soft hyphen to nothing", "I\u00adX", "IX"},
		{"variation selector to nothing", "é\ufe0f", "é"},
		{"mapped to nothing entirely: raw", "\u00ad", "\u00ad"},
		{"invalid UTF-8: raw", "a\xffé", "a\xffé"},
		{"ascii control with non-ascii: prohibited, raw", "é\x07", "é\x07"},
		{"private use: prohibited, raw", "é\ue000", "é\ue000"},
		{"unassigned in Unicode 3.2: prohibited, raw", "é\U0001F600", "é\U0001F600"},
		{"RandALCat only", "\u05d0\u05d1", "\u05d0\u05d1"},
		{"RandALCat with LCat: raw", "\u05d0a\u05d1", "\u05d0a\u05d1"},
		{"RandALCat not at both ends: raw", "\u05d01", "\u05d01"},
		{"RandALCat around digits", "\u05d01\u05d1", "\u05d01\u05d1"},
		// Like pg_saslprep, the checks run before NFKC: U+2488 (DIGIT ONE FULL STOP) is allowed and
		// normalises to "1.".
		{"checked before normalisation", "\u2488é", "1.é"},
	} {
		if got := saslprep(c.in); got != c.want {
			t.Errorf("%s: saslprep(%+q) = %+q, want %+q", c.name, c.in, got, c.want)
		}
	}
	// Equivalent spellings make the same verifier.
	salt := []byte("0123456789abcdef")
	v1, _ := buildVerifier("a\u00a0\ufb01", salt, 4096)
	v2, _ := buildVerifier("a fi", salt, 4096)
	if v1 != v2 {
		t.Error("SASLprep-equivalent passwords have different verifiers")
	}
}

func TestQuote(t *testing.T) {
	if got := ident(`we"ird`); got != `"we""ird"` {
		t.Errorf("ident = %s", got)
	}
	if got := literal(`it's \x`); got != `'it''s \x'` {
		t.Errorf("literal = %s", got)
	}
}

func TestPsqlError(t *testing.T) {
	out := []byte("some notice\npsql:<stdin>:3: ERROR:  role \"x\" does not exist\nLINE 1: ALTER ROLE x\n")
	if got := psqlError(out); got != `ERROR: role "x" does not exist` {
		t.Errorf("psqlError = %q", got)
	}
	out = []byte("psql: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"shop_a\"\n")
	if got := psqlError(out); got != `FATAL: password authentication failed for user "shop_a"` {
		t.Errorf("psqlError = %q", got)
	}
	out = []byte("psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5433\" failed: No such file or directory\n\tIs the server running locally?\n")
	if got := psqlError(out); !strings.HasPrefix(got, "connection to server on socket") {
		t.Errorf("psqlError = %q", got)
	}
}
