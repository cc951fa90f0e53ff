package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/discover"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/sopsio"
)

type initOptions struct {
	projectDir, projectName, out, output, genKey string
	recipients, scans, files                     []string
	noLogin                                      bool
	dockerHost                                   string
}

func initCmd(e env) *cobra.Command {
	var o initOptions
	c := &cobra.Command{
		Use:   "init",
		Short: "Propose rekey.yaml and encrypted values from an existing Compose project",
		Long: `Init reads an existing Compose project (never changing it), finds its secrets (the variables
assigned in .env and env_files whose names or values look secret, and Compose secrets), the services
that consume them and, with --scan, host files that hold them too, and writes a new desired-state
repository into --out: rekey.yaml with comments on what it guessed, .sops.yaml, and the values the stack
runs now, encrypted to the age recipients. Review rekey.yaml and commit the directory: the first rekey
plan should find every secret in sync. It never prints a value.`,
		Example: `  rekey init --project-dir /srv/stack --out /srv/stack-secrets --age-recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  rekey init --project-dir /srv/stack --out /srv/stack-secrets --generate-age-key /etc/rekey/age.key \
    --file compose.yaml --file compose.prod.yaml --scan /etc/cron.d`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runInitCmd(c.Context(), &o, e) },
	}
	fs := c.Flags()
	fs.StringVar(&o.projectDir, "project-dir", ".", "the Compose project directory to read (never modified)")
	fs.StringVar(&o.projectName, "project-name", "", "the name the stack runs under (default: as compose decides)")
	fs.StringArrayVar(&o.files, "file", nil, "compose file, relative to the project directory (repeatable, in override order; default: COMPOSE_FILE in .env, else compose's default names); written to rekey.yaml as compose.files")
	fs.StringVar(&o.out, "out", "", "new directory for rekey.yaml, .sops.yaml and secrets.sops.yaml (required; must not exist or be empty)")
	fs.StringArrayVar(&o.recipients, "age-recipient", nil, "age public key (age1…) to encrypt the values to (repeatable)")
	fs.StringVar(&o.genKey, "generate-age-key", "", "generate a new age identity into FILE (0600, never overwritten) and encrypt to it")
	fs.StringArrayVar(&o.scans, "scan", nil, "file or directory of host files to search for the secrets (repeatable), e.g. /etc/cron.d")
	fs.StringVar(&o.output, "output", "text", "report format: text or json")
	fs.BoolVar(&o.noLogin, "no-login", false, "do not try the read-only login that confirms each proposed server (by default one login per server, when the stack runs)")
	completeDirs(c, "project-dir", "out")
	completeFiles(c, "file", "generate-age-key", "scan")
	completeWords(c, "output", "text", "json")
	completeWords(c, "project-name")
	completeWords(c, "age-recipient")
	return c
}

func runInitCmd(ctx context.Context, o *initOptions, e env) error {
	if err := o.check(); err != nil {
		return err
	}
	o.dockerHost = e.getenv("DOCKER_HOST")
	rep, values, err := runInit(ctx, o)
	red := redact.New(values...)
	if err != nil {
		return red.Error(err)
	}
	var b bytes.Buffer
	if o.output == "json" {
		if err := writeJSON(&b, rep); err != nil {
			return err
		}
	} else {
		discover.Print(&b, *rep)
	}
	// Nothing in the report holds a value; the redactor is a second line of defence.
	_, err = io.WriteString(e.stdout, red.ForReport().String(b.String()))
	return err
}

// check validates the flags before anything is read or written.
func (o *initOptions) check() error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output must be text or json, got %q", o.output)
	}
	if o.out == "" {
		return usageError("--out DIR is required: the new directory to write rekey.yaml, .sops.yaml and %s into", discover.ValuesFile)
	}
	if len(o.recipients) == 0 && o.genKey == "" {
		return usageError("pass --age-recipient age1… (repeatable) or --generate-age-key FILE: the values must be encrypted to someone")
	}
	for _, r := range o.recipients {
		if err := checkAgeRecipient(r); err != nil {
			return usageError("--age-recipient: %v", err)
		}
	}
	var err error
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	if o.projectDir, err = filepath.Abs(o.projectDir); err != nil {
		return err
	}
	switch fi, err := os.Stat(o.out); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("--out %s exists and is not a directory", o.out)
	default:
		if ents, err := os.ReadDir(o.out); err != nil || len(ents) > 0 {
			return fmt.Errorf("--out %s exists and is not empty: rekey init only writes a new repository", o.out)
		}
	}
	if _, inside := within(o.projectDir, o.out); inside || o.out == o.projectDir {
		return fmt.Errorf("--out %s is inside the project directory %s: rekey init never writes into the stack", o.out, o.projectDir)
	}
	if o.genKey != "" {
		if o.genKey, err = filepath.Abs(o.genKey); err != nil {
			return err
		}
		if _, err := os.Lstat(o.genKey); err == nil {
			return fmt.Errorf("--generate-age-key %s already exists: rekey init never overwrites a key", o.genKey)
		}
		for _, dir := range []string{o.out, o.projectDir} {
			if _, inside := within(dir, o.genKey); inside {
				return fmt.Errorf("--generate-age-key %s is inside %s: keep the key out of the repository and the stack", o.genKey, dir)
			}
		}
		if fi, err := os.Stat(filepath.Dir(o.genKey)); err != nil || !fi.IsDir() {
			return fmt.Errorf("--generate-age-key %s: directory %s does not exist", o.genKey, filepath.Dir(o.genKey))
		}
	}
	return nil
}

func checkAgeRecipient(r string) error {
	if _, err := age.ParseX25519Recipient(r); err == nil {
		return nil
	}
	if strings.HasPrefix(r, "age1pq1") {
		if _, err := age.ParseHybridRecipient(r); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%q is not an age public key (want age1…; plugin and SSH recipients are not supported)", r)
}

// within reports whether path is strictly inside dir.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// runInit reads the stack, writes the new repository and returns the report and every value it saw
// (for the redactor).
func runInit(ctx context.Context, o *initOptions) (*discover.Report, []string, error) {
	var opts []composeio.Option
	if o.projectName != "" {
		opts = append(opts, composeio.WithProjectName(o.projectName))
	}
	if len(o.files) > 0 {
		opts = append(opts, composeio.WithFiles(o.files...))
	}
	p, err := composeio.Load(ctx, o.projectDir, opts...)
	if err != nil {
		return &discover.Report{}, nil, err
	}
	var do discover.Options
	if len(o.files) > 0 {
		do.ComposeFiles = p.Files()
	}
	do.Scans = o.scans
	rep, values, err := discover.Discover(ctx, p, do)
	rep.Out = o.out
	if err != nil {
		return rep, values, err
	}
	confirmLogins(ctx, o, p, rep, values)
	var id *age.X25519Identity
	rep.Recipients = slices.Clone(o.recipients)
	if o.genKey != "" {
		if id, err = age.GenerateX25519Identity(); err != nil {
			return rep, values, err
		}
		rep.Recipients = append(rep.Recipients, id.Recipient().String())
	}
	files, err := initFiles(p, rep)
	if err != nil {
		return rep, values, err
	}
	if id != nil {
		if err := writeAgeKey(o.genKey, id); err != nil {
			return rep, values, err
		}
		rep.AgeKeyFile = o.genKey
	}
	if err := writeOut(o.out, files); err != nil {
		if id != nil {
			os.Remove(o.genKey)
		}
		return rep, values, err
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		rep.Files = append(rep.Files, filepath.Join(o.out, f))
	}
	rep.NextSteps = nextSteps(o, rep)
	return rep, values, nil
}

// initFiles renders the three files of the new repository.
func initFiles(p *composeio.Project, rep *discover.Report) (map[string][]byte, error) {
	recipients := rep.Recipients
	var sops strings.Builder
	sops.WriteString("# Written by `rekey init`: the age recipients of the values file. `rekey values set` encrypts to them.\n")
	sops.WriteString("creation_rules:\n  - path_regex: ^secrets\\.sops\\.yaml$\n    age:\n")
	for _, r := range recipients {
		fmt.Fprintf(&sops, "      - %s\n", r)
	}
	got, err := sopsio.RecipientsFor([]byte(sops.String()), "", discover.ValuesFile)
	if err != nil || !slices.Equal(got, recipients) {
		return nil, fmt.Errorf("rekey init wrote a .sops.yaml it cannot read back (a bug): %v", err)
	}
	plain, err := sopsio.EncodeValues(rep.Values(), sopsio.FormatYAML)
	if err != nil {
		return nil, err
	}
	enc, err := sopsio.Encrypt(plain, sopsio.FormatYAML, recipients)
	if err != nil {
		return nil, err
	}
	rekeyYAML, err := discover.RekeyYAML(p, rep)
	if err != nil {
		return nil, fmt.Errorf("rekey init cannot write rekey.yaml (a bug): %w", err)
	}
	// rekey.yaml is committed in plaintext: a value in it (a template's literal text, a comment) is a
	// bug of init's, caught here rather than written.
	if red := redact.New(slices.Collect(maps.Values(rep.Values()))...).ForReport(); red.String(string(rekeyYAML)) != string(rekeyYAML) {
		return nil, errors.New("rekey init would write a secret value into rekey.yaml (a bug): the repository files were not written")
	}
	return map[string][]byte{
		app.ConfigFile:      rekeyYAML,
		".sops.yaml":        []byte(sops.String()),
		discover.ValuesFile: enc,
	}, nil
}

// writeAgeKey creates the identity file 0600; an existing file is never overwritten.
func writeAgeKey(path string, id *age.X25519Identity) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to create the age key file: %w", err)
	}
	_, err = fmt.Fprintf(f, "# created: %s by rekey init\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("failed to write the age key file: %w", err)
	}
	return nil
}

// writeOut creates the output directory (or fills the empty one) and writes the files.
func writeOut(dir string, files map[string][]byte) error {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		created = true
	}
	written := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			written[name] = true // ours to remove if a later one fails; a file that was there is not
			_, err = f.Write(files[name])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			for n := range written {
				os.Remove(filepath.Join(dir, n))
			}
			if created {
				os.Remove(dir)
			}
			return fmt.Errorf("failed to write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

func nextSteps(o *initOptions, rep *discover.Report) []string {
	key := "--age-key-file KEYFILE"
	if rep.AgeKeyFile != "" {
		key = "--age-key-file " + rep.AgeKeyFile
	}
	steps := []string{
		"review " + filepath.Join(o.out, app.ConfigFile) + ": the comments say what was guessed",
		fmt.Sprintf("git -C %s init && git -C %s add -A && git -C %s commit -m 'rekey: initial desired state'", o.out, o.out, o.out),
		fmt.Sprintf("rekey plan --repo %s %s   (every secret should be in-sync)", o.out, key),
	}
	for _, a := range rep.AdoptSteps() {
		steps = append(steps, strings.Replace(a, "rekey adopt ", fmt.Sprintf("rekey adopt --repo %s %s ", o.out, key), 1))
	}
	return steps
}
