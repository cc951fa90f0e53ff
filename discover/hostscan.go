package discover

// The --scan search: host files (cron jobs, backup scripts) that name a candidate or hold its value.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/report"
)

// Limits of --scan.
const (
	scanMaxFiles = 5000
	scanMaxSize  = 1 << 20
)

// scanTarget is a candidate the scan looks for: its variable names and its value.
type scanTarget struct {
	secret string
	vars   []string
	value  string
}

// HostRef is a host file that refers to a candidate.
type HostRef struct {
	Path      string `json:"path"`
	Secret    string `json:"secret"`
	Var       string `json:"var,omitempty"`        // the variable name it mentions
	Value     bool   `json:"holds_value"`          // it holds the current value (compared in memory, never printed)
	Assigns   bool   `json:"assigns"`              // it is a dotenv-style file assigning Var: proposed as a host_file consumer
	SameValue bool   `json:"same_value,omitempty"` // Assigns, and the value assigned is the stack's
}

// scanPaths walks the --scan paths (files or directories) and reports the files that name a candidate's
// variable or hold its value. Binaries, files over 1 MiB and everything past 5000 files are skipped, and
// so are symlinks to directories.
func scanPaths(roots []string, targets []scanTarget) ([]HostRef, []string, error) {
	var refs []HostRef
	var notes []string
	count := 0
	for _, root := range roots {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, nil, fmt.Errorf("--scan %s: %w", root, errors.Unwrap(err))
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				notes = append(notes, fmt.Sprintf("skipped %s: %v", path, errors.Unwrap(err)))
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			if count >= scanMaxFiles {
				return filepath.SkipAll
			}
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			if fi.Size() > scanMaxSize {
				notes = append(notes, fmt.Sprintf("skipped %s: larger than 1 MiB", path))
				return nil
			}
			count++
			data, err := os.ReadFile(path)
			if err != nil {
				notes = append(notes, fmt.Sprintf("skipped %s: %v", path, errors.Unwrap(err)))
				return nil
			}
			if bytes.IndexByte(data[:min(len(data), 8192)], 0) >= 0 {
				return nil // binary
			}
			refs = append(refs, scanFile(path, data, targets)...)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if count >= scanMaxFiles {
		notes = append(notes, fmt.Sprintf("stopped scanning after %d files", scanMaxFiles))
	}
	return refs, notes, nil
}

// scanFile matches one file against every target.
func scanFile(path string, data []byte, targets []scanTarget) []HostRef {
	var env *envfile.File
	if f, err := envfile.Parse(data); err == nil {
		env = f
	}
	var out []HostRef
	for _, t := range targets {
		ref := HostRef{Path: path, Secret: t.secret}
		ref.Value = len(t.value) >= 8 && bytes.Contains(data, []byte(t.value))
		for _, v := range t.vars {
			if !regexp.MustCompile(`(^|[^A-Za-z0-9_])` + regexp.QuoteMeta(v) + `($|[^A-Za-z0-9_])`).Match(data) {
				continue
			}
			ref.Var = v
			if env != nil && assigns(data, v) {
				if got, ok := env.Get(v); ok {
					ref.Assigns, ref.SameValue = true, got == t.value
				}
			}
			break
		}
		if ref.Var != "" || ref.Value {
			out = append(out, ref)
		}
	}
	return out
}

// assigns reports a `VAR=` or `export VAR=` line.
func assigns(data []byte, v string) bool {
	return regexp.MustCompile(`(?m)^[ \t]*(export[ \t]+)?` + regexp.QuoteMeta(v) + `[ \t]*=`).Match(data)
}

// scanHost searches the --scan paths and attaches the host files that assign a secret's variable.
func scanHost(paths []string, secrets []*Secret, rep *Report) error {
	targets := make([]scanTarget, len(secrets))
	for i, s := range secrets {
		targets[i] = scanTarget{secret: s.Name, value: s.value}
		if s.Var != "" {
			targets[i].vars = []string{s.Var}
		}
	}
	refs, notes, err := scanPaths(paths, targets)
	if err != nil {
		return err
	}
	rep.ScanNotes = notes
	rep.HostFiles = append(rep.HostFiles, refs...)
	for _, r := range refs {
		s := secrets[slices.IndexFunc(secrets, func(s *Secret) bool { return s.Name == r.Secret })]
		var what string
		switch {
		case r.Assigns && r.SameValue:
			what = fmt.Sprintf("assigns %s with the stack's value: proposed as a host_file consumer (key %s)", r.Var, r.Var)
		case r.Assigns:
			what = fmt.Sprintf("assigns %s with a different value: proposed as a host_file consumer (key %s); the first apply overwrites it", r.Var, r.Var)
		case r.Var != "" && r.Value:
			what = fmt.Sprintf("names %s and holds its value, but is not a dotenv file: rekey cannot write it, update it by hand", r.Var)
		case r.Var != "":
			what = fmt.Sprintf("names %s (it may read it from the environment or a file): check how it gets the value", r.Var)
		default:
			what = "holds the value in plain text: rekey cannot write it, update it by hand or make it read a file rekey manages"
		}
		rep.Hidden = append(rep.Hidden, Hidden{Kind: report.HiddenHostFile, Secret: s.Name, Note: fmt.Sprintf("host file %s %s", r.Path, what)})
		if r.Assigns && s.Var != "" {
			s.hostKeys = append(s.hostKeys, r)
			s.HostFiles = append(s.HostFiles, r.Path)
		}
	}
	return nil
}
