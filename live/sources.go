package live

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/reconcile"
)

// Files reads and writes values where the stack reads them: variables in dotenv-style files and whole
// secret files. Writes happen in place (same inode) because single-file bind mounts follow the inode;
// a missing file is created 0600.
type Files struct{}

// ReadValue returns the value at l, "" when the file or variable is missing.
func (Files) ReadValue(_ context.Context, l reconcile.Location) (string, error) {
	return readFile(l.Path).get(l.Key)
}

// ReadValues reads many locations, each file once: a desired state of hundreds of secrets keeps most of
// them in one `.env`, and parsing it again for every variable dominated a large plan.
func (Files) ReadValues(_ context.Context, locs []reconcile.Location) (map[reconcile.Location]string, error) {
	out := make(map[reconcile.Location]string, len(locs))
	files := map[string]*fileValues{}
	for _, l := range locs {
		fv, ok := files[l.Path]
		if !ok {
			fv = readFile(l.Path)
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
	missing bool
	err     error // reading failed
	vars    map[string]string
	varsErr error // not a dotenv file: only the whole content can be read
}

func readFile(path string) *fileValues {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &fileValues{path: path, missing: true}
	case err != nil:
		return &fileValues{path: path, err: fmt.Errorf("failed to read %s: %w", path, err)}
	}
	return &fileValues{path: path, data: data}
}

// get returns the variable key, or the whole content for "".
func (fv *fileValues) get(key string) (string, error) {
	switch {
	case fv.err != nil:
		return "", fv.err
	case fv.missing:
		return "", nil
	case key == "":
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
func (Files) WriteValue(_ context.Context, l reconcile.Location, value string) error {
	data, err := os.ReadFile(l.Path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("failed to read %s: %w", l.Path, err)
	}
	out := []byte(value)
	if l.Key != "" {
		f, err := envfile.Parse(data)
		if err != nil {
			return fmt.Errorf("failed to parse %s: %w", l.Path, err)
		}
		if err := f.Set(l.Key, value); err != nil {
			return fmt.Errorf("failed to set %s in %s: %w", l.Key, l.Path, err)
		}
		out = f.Bytes()
	}
	if missing {
		return fsx.CreateFile(l.Path, out, 0o600)
	}
	return fsx.WriteInPlace(l.Path, out)
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
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// The file will be created: its directory must take a new file.
		dir := filepath.Dir(path)
		if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
			return fmt.Errorf("cannot create %s: directory %s is not writable (%w); fix its permissions or create the file", path, dir, err)
		}
		return nil
	}
	return fsx.CheckWritable(path)
}
