package gitsync

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// newPGPEntity generates an OpenPGP key: "ed25519" (primary key signs),
// "rsa" (RSA 2048, primary key signs) or "subkey" (ed25519 with a signing
// subkey, which is then the one that signs).
func newPGPEntity(t *testing.T, kind, email string) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	if kind == "rsa" {
		cfg = &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}
	}
	e, err := openpgp.NewEntity("Rekey Test", "", email, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if kind == "subkey" {
		if err := e.AddSigningSubkey(cfg); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// armoredPGP returns e armored: its private key (without re-signing it, so
// that an encrypted key can be written too) or its public key.
func armoredPGP(t *testing.T, e *openpgp.Entity, private bool) string {
	t.Helper()
	var buf bytes.Buffer
	typ := openpgp.PublicKeyType
	if private {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if private {
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String() + "\n"
}

// signingKeyID is the key id, as VerifyCommit reports it, of the key that
// signs for e.
func signingKeyID(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	k, ok := e.SigningKey(time.Now())
	if !ok {
		t.Fatal("no signing key")
	}
	return fmt.Sprintf("%016X", k.PublicKey.KeyId)
}

// TestCommitSignedWithOpenPGP: a write-back signed with an OpenPGP key (read
// from its armored private key, as --signing-key gives it) verifies with that
// key trusted, and with no other; pushed through a URL source, the commit on
// the remote verifies too, and git's own gpg accepts it.
func TestCommitSignedWithOpenPGP(t *testing.T) {
	f := newFixture(t)
	other := newPGPEntity(t, "ed25519", "other@example.test")
	otherPub := armoredPGP(t, other, false)
	for _, kind := range []string{"ed25519", "rsa", "subkey"} {
		t.Run(kind, func(t *testing.T) {
			work := f.initRepo()
			c1 := f.commit(work, "first", map[string]string{"values.yaml": "a: 1\n"})
			bare := f.bareClone(work)
			key := newPGPEntity(t, kind, "rekey@example.test")
			pub := armoredPGP(t, key, false)

			author := rekeyBot
			if err := author.SetSigningKey([]byte(armoredPGP(t, key, true))); err != nil {
				t.Fatal(err)
			}
			if author.OpenPGPKey == nil || author.Signer != nil {
				t.Fatalf("SetSigningKey set Signer=%v OpenPGPKey=%v, want the OpenPGP key only", author.Signer, author.OpenPGPKey)
			}
			if err := author.CheckTrusted(TrustedKeys{OpenPGP: []string{pub}}); err != nil {
				t.Errorf("CheckTrusted with the key trusted: %v", err)
			}
			if err := author.CheckTrusted(TrustedKeys{OpenPGP: []string{otherPub}}); !errors.Is(err, ErrUntrusted) {
				t.Errorf("CheckTrusted with another key trusted: %v, want ErrUntrusted", err)
			}

			ctx := context.Background()
			r, err := Open(ctx, "file://"+bare, WithCacheDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			c, err := r.Commit(ctx, "main", c1, []Change{{Path: "values.yaml", Content: []byte("a: 2\n")}}, "rekey: rotate a", author)
			if err != nil {
				t.Fatal(err)
			}
			f.checkCommitted(bare, "main", c.Hash, c1, "rekey: rotate a", map[string]string{"values.yaml": "a: 2\n"})
			if raw := f.git(bare, "cat-file", "commit", c.Hash); !strings.Contains(raw, "\ngpgsig -----BEGIN PGP SIGNATURE-----\n") {
				t.Errorf("no OpenPGP signature header in the commit:\n%s", raw)
			}

			want := Signer{Kind: SignerOpenPGP, KeyID: signingKeyID(t, key)}
			for name, repo := range map[string]*Repo{"the cache": r, "the remote": openLocalRepo(t, bare)} {
				got, err := repo.VerifyCommit(c.Hash, TrustedKeys{OpenPGP: []string{pub}})
				if err != nil || got != want {
					t.Errorf("%s: VerifyCommit = %+v, %v; want %+v", name, got, err, want)
				}
				_, err = repo.VerifyCommit(c.Hash, TrustedKeys{OpenPGP: []string{otherPub}})
				if !errors.Is(err, ErrUntrusted) {
					t.Errorf("%s: VerifyCommit with another key trusted: %v, want ErrUntrusted", name, err)
				}
				_, err = repo.VerifyCommit(c.Hash, TrustedKeys{SSH: []string{testSSHLine(t)}})
				if !errors.Is(err, ErrUntrusted) {
					t.Errorf("%s: VerifyCommit with only an SSH key trusted: %v, want ErrUntrusted", name, err)
				}
			}
			if kind == "ed25519" {
				gpgVerifyCommit(t, f, bare, c.Hash, pub)
			}
		})
	}
}

func openLocalRepo(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testSSHLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(k))
}

// gpgVerifyCommit checks with git verify-commit, i.e. with gpg, that commit
// in dir has a good signature by the armored public key pub.
func gpgVerifyCommit(t *testing.T, f *fixture, dir, commit, pub string) {
	t.Helper()
	gnupg := newGnuPGHome(t, f)
	if gnupg == nil {
		return
	}
	f.mustRun(dir, pub, gnupg, "gpg", "--batch", "--quiet", "--import")
	if _, err := f.run(dir, "", gnupg, gitBin, "verify-commit", commit); err != nil {
		t.Errorf("git verify-commit: %v", err)
	}
}

// newGnuPGHome returns the environment for a fresh GnuPG home, or nil (after
// logging) when gpg is not installed.
func newGnuPGHome(t *testing.T, f *fixture) []string {
	t.Helper()
	for _, tool := range []string{"gpg", "gpgconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("%s not available: skipping the checks with gpg", tool)
			return nil
		}
	}
	home := t.TempDir()
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() { _, _ = f.run(home, "", env, "gpgconf", "--kill", "all") })
	return env
}

// TestSigningKeyFromGPG: keys made and exported by gpg sign write-backs; a
// passphrase-protected one is refused with a clear error.
func TestSigningKeyFromGPG(t *testing.T) {
	f := newFixture(t)
	gnupg := newGnuPGHome(t, f)
	if gnupg == nil {
		t.Skip("gpg not available")
	}
	dir := t.TempDir()
	gen := func(uid, passphrase string) (pub, priv string) {
		t.Helper()
		f.mustRun(dir, "", gnupg, "gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", passphrase,
			"--quick-gen-key", uid, "future-default", "default", "never")
		pub = f.mustRun(dir, "", gnupg, "gpg", "--batch", "--armor", "--export", uid)
		priv = f.mustRun(dir, "", gnupg, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase,
			"--armor", "--export-secret-keys", uid)
		return pub, priv
	}
	pub, priv := gen("Rekey Bot <bot@example.test>", "")
	author := rekeyBot
	if err := author.SetSigningKey([]byte(priv)); err != nil {
		t.Fatalf("SetSigningKey of gpg --armor --export-secret-keys: %v", err)
	}
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"values.yaml": "a: 1\n"})
	r := openLocalRepo(t, work)
	c, err := r.Commit(context.Background(), "main", c1, []Change{{Path: "values.yaml", Content: []byte("a: 2\n")}}, "rotate", author)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.VerifyCommit(c.Hash, TrustedKeys{OpenPGP: []string{pub}}); err != nil || got.Kind != SignerOpenPGP {
		t.Errorf("VerifyCommit = %+v, %v", got, err)
	}
	// gpg itself, through git, accepts the signature.
	if _, err := f.run(work, "", gnupg, gitBin, "verify-commit", c.Hash); err != nil {
		t.Errorf("git verify-commit: %v", err)
	}

	_, protected := gen("Locked Bot <locked@example.test>", "correct horse")
	err = author.SetSigningKey([]byte(protected))
	const want = "OpenPGP signing key is passphrase-protected; rekey needs an unprotected key file with mode 0600"
	if !errors.Is(err, ErrSigningKeyProtected) || err.Error() != want {
		t.Errorf("SetSigningKey of a protected key: %v, want %q", err, want)
	}
	if author.OpenPGPKey == nil {
		t.Error("a failed SetSigningKey dropped the key set before")
	}
}

func TestSetSigningKeyErrors(t *testing.T) {
	key := newPGPEntity(t, "ed25519", "a@example.test")
	second := newPGPEntity(t, "ed25519", "b@example.test")

	locked := newPGPEntity(t, "subkey", "locked@example.test")
	if err := locked.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}

	var both bytes.Buffer
	w, _ := armor.Encode(&both, openpgp.PrivateKeyType, nil)
	key.SerializePrivateWithoutSigning(w, nil)
	second.SerializePrivateWithoutSigning(w, nil)
	w.Close()

	expired, err := openpgp.NewEntity("Old", "", "old@example.test", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 60,
		Time: func() time.Time { return time.Now().Add(-time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}

	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	lockedSSH, err := ssh.MarshalPrivateKeyWithPassphrase(edPriv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, key, want string
		is              error
	}{
		{"public key", armoredPGP(t, key, false), "is a public key", nil},
		{"passphrase", armoredPGP(t, locked, true), "OpenPGP signing key is passphrase-protected; rekey needs an unprotected key file with mode 0600", ErrSigningKeyProtected},
		{"two keys", both.String(), "holds 2 keys", nil},
		{"two blocks", armoredPGP(t, key, true) + armoredPGP(t, second, true), "2 armored blocks", nil},
		{"expired", armoredPGP(t, expired, true), "no valid signing key", nil},
		{"corrupt", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnot base64\n-----END PGP PRIVATE KEY BLOCK-----\n", "OpenPGP", nil},
		{"ssh passphrase", string(pem.EncodeToMemory(lockedSSH)), "SSH signing key is passphrase-protected; rekey needs an unprotected key file with mode 0600", ErrSigningKeyProtected},
		{"garbage", "hello\n", "armored OpenPGP private key", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Author
			err := a.SetSigningKey([]byte(tc.key))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want it to match %v", err, tc.is)
			}
			if a.Signer != nil || a.OpenPGPKey != nil {
				t.Error("a key was set despite the error")
			}
		})
	}

	// An SSH key replaces an OpenPGP key and the other way round.
	var a Author
	block, _ := ssh.MarshalPrivateKey(edPriv, "")
	if err := a.SetSigningKey([]byte(armoredPGP(t, key, true))); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSigningKey(pem.EncodeToMemory(block)); err != nil {
		t.Fatal(err)
	}
	if a.Signer == nil || a.OpenPGPKey != nil {
		t.Errorf("after an SSH key: Signer=%v OpenPGPKey=%v", a.Signer, a.OpenPGPKey)
	}
	if err := a.CheckTrusted(TrustedKeys{SSH: []string{string(ssh.MarshalAuthorizedKey(a.Signer.PublicKey()))}}); err != nil {
		t.Errorf("CheckTrusted of the SSH key: %v", err)
	}
	if err := rekeyBot.CheckTrusted(TrustedKeys{SSH: []string{testSSHLine(t)}}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("CheckTrusted without a key: %v, want ErrUnsigned", err)
	}
}

// TestCommitRefusesUnusableOpenPGPKey: keys set directly on Author that
// cannot sign make Commit fail before anything is written.
func TestCommitRefusesUnusableOpenPGPKey(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"values.yaml": "a: 1\n"})
	r := openLocalRepo(t, work)

	locked := newPGPEntity(t, "ed25519", "locked@example.test")
	if err := locked.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	key := newPGPEntity(t, "ed25519", "a@example.test")
	public, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armoredPGP(t, key, false)))
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(edPriv)

	before := f.git(work, "count-objects", "-v")
	for _, tc := range []struct {
		name   string
		author Author
		want   string
	}{
		{"protected", Author{Name: "r", Email: "r@example.test", OpenPGPKey: locked}, "passphrase-protected"},
		{"public only", Author{Name: "r", Email: "r@example.test", OpenPGPKey: public[0]}, "private part"},
		{"both kinds", Author{Name: "r", Email: "r@example.test", OpenPGPKey: key, Signer: signer}, "both an SSH and an OpenPGP"},
	} {
		_, err := r.Commit(context.Background(), "main", c1, []Change{{Path: "values.yaml", Content: []byte("a: 2\n")}}, "rotate", tc.author)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if got := f.git(work, "rev-parse", "main"); got != c1 {
		t.Errorf("main moved to %s", got)
	}
	if after := f.git(work, "count-objects", "-v"); after != before {
		t.Errorf("objects were written:\n%s\nwant\n%s", after, before)
	}
}
