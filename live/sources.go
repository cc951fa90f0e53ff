package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/reconcile"
)

// Size limits of the stack's files: rekey reads them as root and must not read without bound what a
// commit or a container names (`file: /dev/zero`, a runaway log linked in place of a secret).
const (
	// MaxEnvFile bounds a file read as dotenv (.env, env files, host files with a key).
	MaxEnvFile = 16 << 20
	// MaxValueFile bounds a file whose whole content is one value (file:, host files without a key).
	MaxValueFile = 1 << 20
)

// Files reads and writes values where the stack reads them: variables in dotenv-style files and whole
// secret files. Writes happen in place (same inode) because single-file bind mounts follow the inode;
// a missing file is created 0600.
//
// No file is reached through a symbolic link: below Root (the compose project directory) neither the
// file nor any directory on its path may be one; elsewhere (a declared host file, an env file compose
// names by absolute path) the file itself may not. A link a container planted must not make rekey, as
// root, read or overwrite its target. Every read is size-limited (MaxEnvFile, MaxValueFile).
type Files struct {
	Root string
	// Warn, if set, reports a secret file readable by group or others, once per file and process.
	Warn func(string)
	// Forms renders and reads back derived locations (forms.go); nil when the desired state has none.
	Forms *Forms
	// Written, if set, is called before and after every write to a file, whether it succeeds or not
	// (Stack.ShareConfigHashes: what was computed from the sources is out of date).
	Written func()
}

// ReadValue returns the value at l, "" when the file or variable is missing.
func (fs Files) ReadValue(_ context.Context, l reconcile.Location) (string, error) {
	return fs.readFile(l.Path).get(l.Key)
}

// ReadValues reads many locations, each file once: a desired state of hundreds of secrets keeps most of
// them in one `.env`, and parsing it again for every variable dominated a large plan.
func (fs Files) ReadValues(_ context.Context, locs []reconcile.Location) (map[reconcile.Location]string, error) {
	out := make(map[reconcile.Location]string, len(locs))
	files := map[string]*fileValues{}
	for _, l := range locs {
		fv, ok := files[l.Path]
		if !ok {
			fv = fs.readFile(l.Path)
			files[l.Path] = fv
		}
		v, err := fv.get(l.Key)
		if err != nil {
			return nil, err
		}
		out[l] = v
	}
	return out, nil
}

// fileValues is one file read once; it is parsed as a dotenv file the first time a variable is asked for.
type fileValues struct {
	path    string
	data    []byte
	mode    os.FileMode
	warn    func(string)
	missing bool
	err     error // reading failed
	vars    map[string]string
	varsErr error // not a dotenv file: only the whole content can be read
}

func (fs Files) readFile(path string) *fileValues {
	data, mode, missing, err := fs.read(path)
	switch {
	case missing:
		return &fileValues{path: path, missing: true}
	case err != nil:
		return &fileValues{path: path, err: err}
	}
	return &fileValues{path: path, data: data, mode: mode, warn: fs.Warn}
}

// read returns the content of path (at most MaxEnvFile bytes) and its mode, or missing.
func (fs Files) read(path string) (data []byte, mode os.FileMode, missing bool, err error) {
	f, err := fsx.OpenTarget(fs.Root, path, os.O_RDONLY)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("failed to read %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		mode = fi.Mode().Perm()
	}
	data, err = io.ReadAll(io.LimitReader(f, MaxEnvFile+1))
	if err != nil {
		return nil, 0, false, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if len(data) > MaxEnvFile {
		return nil, 0, false, fmt.Errorf("%s is larger than %s, the limit for a file rekey reads: %w", path, fsx.Size(MaxEnvFile), fsx.ErrTooLarge)
	}
	return data, mode, false, nil
}

// get returns the variable key, or the whole content for "".
func (fv *fileValues) get(key string) (string, error) {
	switch {
	case fv.err != nil:
		return "", fv.err
	case fv.missing:
		return "", nil
	case key == "" && len(fv.data) > MaxValueFile:
		return "", fmt.Errorf("%s is larger than %s, the limit for a file whose whole content is a secret: %w", fv.path, fsx.Size(MaxValueFile), fsx.ErrTooLarge)
	case key == "":
		warnReadable(fv.path, fv.mode, fv.warn)
		return string(fv.data), nil
	}
	if fv.vars == nil && fv.varsErr == nil {
		f, err := envfile.Parse(fv.data)
		if err != nil {
			fv.varsErr = fmt.Errorf("failed to parse %s: %w", fv.path, err)
			return "", fv.varsErr
		}
		fv.vars = f.Values()
	}
	if fv.varsErr != nil {
		return "", fv.varsErr
	}
	return fv.vars[key], nil
}

// WriteValue writes value at l, keeping every other byte of a dotenv file as it was.
func (fs Files) WriteValue(_ context.Context, l reconcile.Location, value string) error {
	if l.Key == "" {
		if len(value) > MaxValueFile {
			return fmt.Errorf("the value for %s is larger than %s, the limit for a file whose whole content is a secret", l.Path, fsx.Size(MaxValueFile))
		}
		return fs.write(l.Path, []byte(value))
	}
	data, _, _, err := fs.read(l.Path)
	if err != nil {
		return err
	}
	f, err := envfile.Parse(data)
	if err != nil {
		return fmt.Errorf("failed to parse %s: %w", l.Path, err)
	}
	if err := f.Set(l.Key, value); err != nil {
		return fmt.Errorf("failed to set %s in %s: %w", l.Key, l.Path, err)
	}
	return fs.write(l.Path, f.Bytes())
}

// ReadFile returns the whole content of the file at path, for a transaction's snapshot: exists is
// false when there is no file.
func (fs Files) ReadFile(_ context.Context, path string) (data []byte, exists bool, err error) {
	data, _, missing, err := fs.read(path)
	return data, !missing && err == nil, err
}

// WriteFile puts data back as the whole content of the file at path, in place, for a restore.
func (fs Files) WriteFile(_ context.Context, path string, data []byte) error {
	return fs.write(path, data)
}

// write replaces the content of path in place, or creates it 0600.
func (fs Files) write(path string, data []byte) error {
	if fs.Written != nil {
		fs.Written()
		defer fs.Written()
	}
	if len(data) > MaxEnvFile {
		return fmt.Errorf("%s would be larger than %s, the limit for a file rekey reads", path, fsx.Size(MaxEnvFile))
	}
	err := fsx.WriteInPlaceAt(fs.Root, path, data)
	if errors.Is(err, iofs.ErrNotExist) {
		return fsx.CreateFileAt(fs.Root, path, data, 0o600)
	}
	return err
}

// warned holds the files whose mode was already reported, so the agent says it once, not every poll.
var warned sync.Map

// warnReadable warns when a file whose whole content is a secret can be read by group or others.
func warnReadable(path string, mode os.FileMode, warn func(string)) {
	if warn == nil || mode&0o044 == 0 {
		return
	}
	if _, again := warned.LoadOrStore(path, true); again {
		return
	}
	warn(fmt.Sprintf("%s holds a secret and is readable by group or others (mode %v): chmod go-r %s, unless a container user needs it", path, mode, path))
}

// Preflight checks that every location can be written, before anything is changed.
func Preflight(d reconcile.Desired) error {
	var errs []error
	seen := map[string]bool{}
	for _, s := range d.Secrets {
		for _, l := range append(append([]reconcile.Location{}, s.Current...), s.Previous...) {
			if seen[l.Path] {
				continue
			}
			seen[l.Path] = true
			if err := writable(l.Path); err != nil {
				errs = append(errs, fmt.Errorf("secret %s: %w", s.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func writable(path string) error {
	if _, err := os.Stat(path); errors.Is(err, iofs.ErrNotExist) {
		// The file will be created: its directory must take a new file.
		dir := filepath.Dir(path)
		if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
			return fmt.Errorf("cannot create %s: directory %s is not writable (%w); fix its permissions or create the file", path, dir, err)
		}
		return nil
	}
	return fsx.CheckWritable(path)
}
