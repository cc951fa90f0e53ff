package gitsync

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// run runs a command in dir with the fixture's environment plus extra, feeding
// it stdin, and returns its stdout. The tick keeps commit dates increasing.
func (f *fixture) run(dir, stdin string, extra []string, name string, args ...string) (string, error) {
	f.t.Helper()
	f.tick++
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(f.env(), extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &runError{cmd: name + " " + strings.Join(args, " "), err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type runError struct {
	cmd, stderr string
	err         error
}

func (e *runError) Error() string { return e.cmd + ": " + e.err.Error() + "\n" + e.stderr }

func (f *fixture) mustRun(dir, stdin string, extra []string, name string, args ...string) string {
	f.t.Helper()
	out, err := f.run(dir, stdin, extra, name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// signKit holds real signing keys made by gpg and ssh-keygen for the test.
type signKit struct {
	f       *fixture
	dir     string
	gnupg   []string // GNUPGHOME=…
	pgp     pgpKey   // trusted
	pgpEvil pgpKey   // never trusted
	ed      sshKey   // ed25519, trusted
	rsa     sshKey   // rsa 3072, trusted
	sshEvil sshKey   // ed25519, never trusted
}

type pgpKey struct {
	fpr, keyID, armored string
}

type sshKey struct {
	priv, pub, line, fp string
}

func newSignKit(t *testing.T, f *fixture) *signKit {
	t.Helper()
	for _, tool := range []string{"gpg", "gpgconf", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not available (install gnupg and openssh-client)", tool)
		}
	}
	k := &signKit{f: f, dir: t.TempDir()}
	home := t.TempDir() // short path: gpg-agent's socket lives there
	k.gnupg = []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		// Stop the gpg-agent this test started before its home is removed.
		_, _ = f.run(home, "", k.gnupg, "gpgconf", "--kill", "all")
	})
	k.pgp = k.genPGP("Trusted Signer <trusted@example.test>")
	k.pgpEvil = k.genPGP("Evil Signer <evil@example.test>")
	k.ed = k.genSSH("id_ed25519", "-t", "ed25519")
	k.rsa = k.genSSH("id_rsa", "-t", "rsa", "-b", "3072")
	k.sshEvil = k.genSSH("id_evil", "-t", "ed25519")
	return k
}

func (k *signKit) genPGP(uid string) pgpKey {
	k.f.t.Helper()
	k.f.mustRun(k.dir, "", k.gnupg, "gpg", "--batch", "--quiet", "--passphrase", "",
		"--quick-gen-key", uid, "ed25519", "sign", "never")
	email := uid[strings.Index(uid, "<")+1 : len(uid)-1]
	var key pgpKey
	for _, line := range strings.Split(k.f.mustRun(k.dir, "", k.gnupg, "gpg", "--batch", "--with-colons", "--list-keys", email), "\n") {
		fields := strings.Split(line, ":")
		switch {
		case fields[0] == "pub" && key.keyID == "":
			key.keyID = fields[4]
		case fields[0] == "fpr" && key.fpr == "":
			key.fpr = fields[9]
		}
	}
	if key.keyID == "" || key.fpr == "" {
		k.f.t.Fatalf("could not read the key id of %s", uid)
	}
	key.armored = k.f.mustRun(k.dir, "", k.gnupg, "gpg", "--batch", "--armor", "--export", key.fpr)
	if !strings.Contains(key.armored, "BEGIN PGP PUBLIC KEY BLOCK") {
		k.f.t.Fatalf("gpg --export gave %q", key.armored)
	}
	return key
}

func (k *signKit) genSSH(name string, typ ...string) sshKey {
	k.f.t.Helper()
	priv := filepath.Join(k.dir, name)
	args := append([]string{"-q", "-N", "", "-C", name + "@example.test", "-f", priv}, typ...)
	k.f.mustRun(k.dir, "", nil, "ssh-keygen", args...)
	return readSSHKey(k.f, priv)
}

func readSSHKey(f *fixture, priv string) sshKey {
	f.t.Helper()
	line, err := os.ReadFile(priv + ".pub")
	if err != nil {
		f.t.Fatal(err)
	}
	fp := strings.Fields(f.mustRun(filepath.Dir(priv), "", nil, "ssh-keygen", "-l", "-f", priv+".pub"))[1]
	return sshKey{priv: priv, pub: priv + ".pub", line: strings.TrimSpace(string(line)), fp: fp}
}

// commitPGP, commitSSH and commitUnsigned make an empty commit in dir.
func (k *signKit) commitPGP(dir, msg string, key pgpKey) string {
	k.f.t.Helper()
	k.f.mustRun(dir, "", k.gnupg, gitBin, "-c", "user.signingkey="+key.fpr, "-c", "commit.gpgsign=true",
		"commit", "-q", "--allow-empty", "-m", msg)
	return k.f.git(dir, "rev-parse", "HEAD")
}

func (k *signKit) commitSSH(dir, msg string, key sshKey) string {
	k.f.t.Helper()
	k.f.mustRun(dir, "", nil, gitBin, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key.pub,
		"commit", "-q", "--allow-empty", "-S", "-m", msg)
	return k.f.git(dir, "rev-parse", "HEAD")
}

func (k *signKit) commitUnsigned(dir, msg string) string {
	k.f.t.Helper()
	k.f.git(dir, "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", msg)
	return k.f.git(dir, "rev-parse", "HEAD")
}

// rawCommit returns the commit object as stored, and writeCommit stores a
// crafted one, returning its hash.
func (k *signKit) rawCommit(dir, hash string) string {
	k.f.t.Helper()
	return k.f.mustRun(dir, "", nil, gitBin, "cat-file", "commit", hash)
}

func (k *signKit) writeCommit(dir, raw string) string {
	k.f.t.Helper()
	return strings.TrimSpace(k.f.mustRun(dir, raw, nil, gitBin, "hash-object", "-t", "commit", "-w", "--stdin"))
}

// withHeader adds a header (multi-line values continued with a space) at the
// end of the headers of a raw commit.
func withHeader(raw, key, value string) string {
	head, body, ok := strings.Cut(raw, "\n\n")
	if !ok {
		panic("no message in commit")
	}
	value = strings.ReplaceAll(strings.TrimSuffix(value, "\n"), "\n", "\n ")
	return head + "\n" + key + " " + value + "\n\n" + body
}

// sshString encodes s as an SSH wire-format string.
func sshString(s []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
	return append(b, s...)
}

// craftSSHSig builds an armored sshsig signature of message by signer with
// the given signature algorithm and namespace, following PROTOCOL.sshsig:
// the signed data is "SSHSIG" || namespace || reserved || hash algorithm ||
// H(message), the blob is "SSHSIG" || version 1 || public key || namespace ||
// reserved || hash algorithm || signature.
func craftSSHSig(t *testing.T, message []byte, signer ssh.AlgorithmSigner, algo, namespace string) string {
	t.Helper()
	sum := sha512.Sum512(message)
	var signed []byte
	signed = append(signed, "SSHSIG"...)
	signed = append(signed, sshString([]byte(namespace))...)
	signed = append(signed, sshString(nil)...)
	signed = append(signed, sshString([]byte("sha512"))...)
	signed = append(signed, sshString(sum[:])...)
	sig, err := signer.SignWithAlgorithm(rand.Reader, signed, algo)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	blob = append(blob, "SSHSIG"...)
	blob = binary.BigEndian.AppendUint32(blob, 1)
	blob = append(blob, sshString(signer.PublicKey().Marshal())...)
	blob = append(blob, sshString([]byte(namespace))...)
	blob = append(blob, sshString(nil)...)
	blob = append(blob, sshString([]byte("sha512"))...)
	blob = append(blob, sshString(ssh.Marshal(sig))...)
	return string(pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: blob}))
}

func algorithmSigner(t *testing.T, key any) ssh.AlgorithmSigner {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		t.Fatalf("%T is not an AlgorithmSigner", s)
	}
	return as
}

func authorizedLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// wantVerifyErr checks that err matches target and mentions every one of
// parts.
func wantVerifyErr(t *testing.T, err, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error %q does not match %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
	if strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("error %q mentions private material", err)
	}
}

func TestVerifyCommit(t *testing.T) {
	f := newFixture(t)
	k := newSignKit(t, f)
	dir := f.initRepo()

	goodPGP := k.commitPGP(dir, "signed with openpgp", k.pgp)
	goodEd := k.commitSSH(dir, "signed with ssh ed25519", k.ed)
	goodRSA := k.commitSSH(dir, "signed with ssh rsa", k.rsa)
	plain := k.commitUnsigned(dir, "not signed")
	evilPGP := k.commitPGP(dir, "signed by an unknown openpgp key", k.pgpEvil)
	evilSSH := k.commitSSH(dir, "signed by an unknown ssh key", k.sshEvil)

	// Tampered: the message is rewritten, the signature kept.
	tamper := func(hash, from, to string) string {
		raw := k.rawCommit(dir, hash)
		if !strings.Contains(raw, from) {
			t.Fatalf("commit %s has no %q", hash, from)
		}
		return k.writeCommit(dir, strings.Replace(raw, from, to, 1))
	}
	tamperedPGP := tamper(goodPGP, "signed with openpgp", "signed with openpgp, honest")
	tamperedSSH := tamper(goodEd, "signed with ssh ed25519", "signed with ssh ed25519, honest")

	// Crafted SSH signatures over the payload of the unsigned commit.
	payload := k.rawCommit(dir, plain)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edSigner := algorithmSigner(t, edPriv)
	rsaSigner := algorithmSigner(t, rsaPriv)
	craft := func(s ssh.AlgorithmSigner, algo, ns string) string {
		return k.writeCommit(dir, withHeader(payload, "gpgsig", craftSSHSig(t, []byte(payload), s, algo, ns)))
	}
	craftedEd := craft(edSigner, ssh.KeyAlgoED25519, "git")
	craftedRSA512 := craft(rsaSigner, ssh.KeyAlgoRSASHA512, "git")
	craftedRSASHA1 := craft(rsaSigner, ssh.KeyAlgoRSA, "git")
	wrongNamespace := craft(edSigner, ssh.KeyAlgoED25519, "file")

	// More than one signature.
	sigA := craftSSHSig(t, []byte(payload), edSigner, ssh.KeyAlgoED25519, "git")
	sigB := craftSSHSig(t, []byte(payload), rsaSigner, ssh.KeyAlgoRSASHA512, "git")
	twoBlocks := k.writeCommit(dir, withHeader(payload, "gpgsig", sigA+sigB))
	twoHeaders := k.writeCommit(dir, withHeader(withHeader(payload, "gpgsig", sigA), "gpgsig", sigB))
	plusSHA256 := k.writeCommit(dir, withHeader(withHeader(payload, "gpgsig", sigA), "gpgsig-sha256", sigB))
	gitPlusSHA256 := k.writeCommit(dir, withHeader(k.rawCommit(dir, goodEd), "gpgsig-sha256", sigA))
	// A gpgsig-sha256 header alone carries the one signature.
	onlySHA256 := k.writeCommit(dir, withHeader(payload, "gpgsig-sha256", sigA))

	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	trusted := TrustedKeys{
		OpenPGP: []string{k.pgp.armored},
		SSH: []string{
			k.ed.line,
			"# a comment\n\n" + k.rsa.line + "\n" + authorizedLine(edSigner.PublicKey()) + "\n",
			`no-port-forwarding,no-pty ` + authorizedLine(rsaSigner.PublicKey()),
		},
	}

	t.Run("good", func(t *testing.T) {
		for _, tc := range []struct {
			name, hash string
			want       Signer
		}{
			{"openpgp", goodPGP, Signer{Kind: "openpgp", KeyID: k.pgp.keyID}},
			{"ssh ed25519", goodEd, Signer{Kind: "ssh", KeyID: k.ed.fp}},
			{"ssh rsa (rsa-sha2-512)", goodRSA, Signer{Kind: "ssh", KeyID: k.rsa.fp}},
			{"abbreviated hash", goodEd[:10], Signer{Kind: "ssh", KeyID: k.ed.fp}},
			{"crafted ed25519", craftedEd, Signer{Kind: "ssh", KeyID: ssh.FingerprintSHA256(edSigner.PublicKey())}},
			{"crafted rsa-sha2-512", craftedRSA512, Signer{Kind: "ssh", KeyID: ssh.FingerprintSHA256(rsaSigner.PublicKey())}},
			{"gpgsig-sha256 alone", onlySHA256, Signer{Kind: "ssh", KeyID: ssh.FingerprintSHA256(edSigner.PublicKey())}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := r.VerifyCommit(tc.hash, trusted)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("signer = %+v, want %+v", got, tc.want)
				}
			})
		}
	})

	t.Run("openpgp keyring tried one by one", func(t *testing.T) {
		for _, trust := range []TrustedKeys{
			{OpenPGP: []string{k.pgpEvil.armored, k.pgp.armored}},
			{OpenPGP: []string{k.pgpEvil.armored + "\n" + k.pgp.armored}},
		} {
			got, err := r.VerifyCommit(goodPGP, trust)
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyID != k.pgp.keyID {
				t.Errorf("key id = %s, want %s", got.KeyID, k.pgp.keyID)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, hash string
			target     error
			parts      []string
		}{
			{"unsigned", plain, ErrUnsigned, []string{plain[:7], "not signed"}},
			{"untrusted openpgp", evilPGP, ErrUntrusted, []string{evilPGP[:7], "openpgp", k.pgpEvil.keyID}},
			{"untrusted ssh", evilSSH, ErrUntrusted, []string{evilSSH[:7], "ssh", k.sshEvil.fp}},
			{"tampered openpgp", tamperedPGP, ErrBadSignature, []string{tamperedPGP[:7], k.pgp.keyID, "does not verify"}},
			{"tampered ssh", tamperedSSH, ErrBadSignature, []string{tamperedSSH[:7], k.ed.fp, "does not verify"}},
			{"rsa with ssh-rsa (sha-1)", craftedRSASHA1, ErrBadSignature, []string{craftedRSASHA1[:7], `"ssh-rsa"`}},
			{"wrong namespace", wrongNamespace, ErrBadSignature, []string{wrongNamespace[:7], "namespace"}},
			{"two armored blocks", twoBlocks, ErrBadSignature, []string{twoBlocks[:7], "more than one signature"}},
			{"two gpgsig headers", twoHeaders, ErrBadSignature, []string{twoHeaders[:7], "more than one signature"}},
			{"gpgsig and gpgsig-sha256", plusSHA256, ErrBadSignature, []string{plusSHA256[:7], "more than one signature"}},
			{"git signature plus gpgsig-sha256", gitPlusSHA256, ErrBadSignature, []string{"more than one signature"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := r.VerifyCommit(tc.hash, trusted)
				wantVerifyErr(t, err, tc.target, tc.parts...)
			})
		}
	})

	t.Run("kind not trusted", func(t *testing.T) {
		_, err := r.VerifyCommit(goodPGP, TrustedKeys{SSH: []string{k.ed.line}})
		wantVerifyErr(t, err, ErrUntrusted, k.pgp.keyID)
		_, err = r.VerifyCommit(goodEd, TrustedKeys{OpenPGP: []string{k.pgp.armored}})
		wantVerifyErr(t, err, ErrUntrusted, k.ed.fp)
	})

	t.Run("invalid trust", func(t *testing.T) {
		secret := f.mustRun(k.dir, "", k.gnupg, "gpg", "--batch", "--armor", "--export-secret-keys", k.pgp.fpr)
		for _, tc := range []struct {
			name  string
			trust TrustedKeys
			part  string
		}{
			{"empty", TrustedKeys{}, "no trusted keys"},
			{"openpgp private key", TrustedKeys{OpenPGP: []string{secret}}, "public keys only"},
			{"openpgp garbage", TrustedKeys{OpenPGP: []string{"not a key"}}, "openpgp keyring 1"},
			{"ssh garbage", TrustedKeys{SSH: []string{k.ed.line, "ssh-ed25519 AAAA"}}, "ssh key 2"},
			{"ssh cert-authority", TrustedKeys{SSH: []string{"cert-authority " + k.ed.line}}, "cert-authority"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := r.VerifyCommit(goodEd, tc.trust)
				wantVerifyErr(t, err, nil, tc.part)
				if strings.Contains(err.Error(), secret[40:80]) {
					t.Errorf("error %q shows key material", err)
				}
			})
		}
	})
}

func TestVerifyCommitDSA(t *testing.T) {
	f := newFixture(t)
	k := newSignKit(t, f)
	dir := f.initRepo()
	priv := filepath.Join(k.dir, "id_dsa")
	if _, err := f.run(k.dir, "", nil, "ssh-keygen", "-q", "-N", "", "-t", "dsa", "-f", priv); err != nil {
		t.Skipf("ssh-keygen cannot make a dsa key here (removed from recent OpenSSH): %v", err)
	}
	dsa := readSSHKey(f, priv)
	if _, err := f.run(dir, "", nil, gitBin, "-c", "gpg.format=ssh", "-c", "user.signingkey="+dsa.pub,
		"commit", "-q", "--allow-empty", "-S", "-m", "signed with dsa"); err != nil {
		t.Skipf("ssh-keygen cannot sign with a dsa key here: %v", err)
	}
	hash := f.git(dir, "rev-parse", "HEAD")
	if raw := k.rawCommit(dir, hash); !strings.Contains(raw, "gpgsig -----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("commit is not ssh-signed:\n%s", raw)
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.VerifyCommit(hash, TrustedKeys{SSH: []string{k.ed.line}})
	wantVerifyErr(t, err, ErrBadSignature, hash[:7], dsa.fp, "dsa keys are not accepted")
	_, err = r.VerifyCommit(hash, TrustedKeys{SSH: []string{k.ed.line, dsa.line}})
	wantVerifyErr(t, err, nil, "ssh key 2", "dsa keys are not accepted")
}

func TestVerifyRange(t *testing.T) {
	f := newFixture(t)
	k := newSignKit(t, f)
	dir := f.initRepo()
	c1 := k.commitSSH(dir, "c1", k.ed)
	c2 := k.commitPGP(dir, "c2", k.pgp)
	c3 := k.commitUnsigned(dir, "c3 unsigned")
	c4 := k.commitSSH(dir, "c4", k.rsa)
	c5 := k.commitPGP(dir, "c5", k.pgp)
	// A side branch with an unsigned commit, merged by a signed merge.
	f.git(dir, "checkout", "-q", "-b", "side")
	s1 := k.commitUnsigned(dir, "s1 unsigned, on a side branch")
	f.git(dir, "checkout", "-q", "main")
	m1 := k.commitSSH(dir, "m1", k.ed)
	f.mustRun(dir, "", nil, gitBin, "-c", "gpg.format=ssh", "-c", "user.signingkey="+k.ed.pub,
		"merge", "-q", "--no-ff", "-S", "-m", "merge side", "side")
	merge := f.git(dir, "rev-parse", "HEAD")
	// A signed side branch merged by a signed merge: all good.
	f.git(dir, "checkout", "-q", "-b", "side2", m1)
	k.commitPGP(dir, "s2", k.pgp)
	f.git(dir, "checkout", "-q", "main")
	f.git(dir, "reset", "-q", "--hard", m1)
	k.commitSSH(dir, "m2", k.rsa)
	f.mustRun(dir, "", nil, gitBin, "-c", "gpg.format=ssh", "-c", "user.signingkey="+k.rsa.pub,
		"merge", "-q", "--no-ff", "-S", "-m", "merge side2", "side2")
	merge2 := f.git(dir, "rev-parse", "HEAD")

	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	trust := TrustedKeys{OpenPGP: []string{k.pgp.armored}, SSH: []string{k.ed.line, k.rsa.line}}
	pgp := Signer{Kind: "openpgp", KeyID: k.pgp.keyID}
	ed := Signer{Kind: "ssh", KeyID: k.ed.fp}
	rsa := Signer{Kind: "ssh", KeyID: k.rsa.fp}

	for _, tc := range []struct {
		name, from, to string
		want           []Signer
	}{
		{"head only", "", c5, []Signer{pgp}},
		{"head only past an unsigned commit", "", merge2, []Signer{rsa}},
		{"oldest first", c3, c5, []Signer{rsa, pgp}},
		{"one commit", c4, c5, []Signer{pgp}},
		{"same commit verifies it", c5, c5, []Signer{pgp}},
		{"back to an older commit verifies it", c5, c4, []Signer{rsa}},
		{"merge of a signed branch", c5, merge2, []Signer{ed, rsa, pgp, rsa}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.VerifyRange(tc.from, tc.to, trust)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("signers = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("signer %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}

	for _, tc := range []struct {
		name, from, to, bad string
	}{
		{"unsigned in the middle", c1, c5, c3},
		{"unsigned from the root", "", c3, c3},
		{"back to an unsigned commit", c5, c3, c3},
		{"unsigned on a merged branch", c5, merge, s1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.VerifyRange(tc.from, tc.to, trust)
			wantVerifyErr(t, err, ErrUnsigned, "commit "+tc.bad[:7])
			if got != nil {
				t.Errorf("signers = %+v on error", got)
			}
			for _, other := range []string{c1, c2, c4, c5, m1} {
				if strings.Contains(err.Error(), other[:7]) {
					t.Errorf("error %q names %s", err, other[:7])
				}
			}
		})
	}

	t.Run("untrusted stops the walk", func(t *testing.T) {
		_, err := r.VerifyRange(c1, c5, TrustedKeys{SSH: []string{k.ed.line}})
		wantVerifyErr(t, err, ErrUntrusted, "commit "+c2[:7], k.pgp.keyID)
	})
	t.Run("unknown commit", func(t *testing.T) {
		_, err := r.VerifyRange("", strings.Repeat("ab", 20), trust)
		wantVerifyErr(t, err, ErrNotFound)
		_, err = r.VerifyRange(strings.Repeat("ab", 20), c5, trust)
		wantVerifyErr(t, err, ErrNotFound)
	})
}
