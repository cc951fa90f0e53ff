package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/rekeyhq/rekey/internal/fsx"
)

// Diagnose explains a filesystem refusal met while opening or writing the journal in stateDir, with what
// to do about it: an immutable or append-only journal.db (chattr), one rekey may not write (mode, owner),
// a read-only mount, a full state dir. Other errors, and nil, pass unchanged. The result still matches
// err with errors.Is and errors.As.
func Diagnose(stateDir string, err error) error {
	if err == nil {
		return nil
	}
	if why := Explain(stateDir, err); why != "" {
		return fmt.Errorf("%w: %s", err, why)
	}
	return err
}

// Explain is what Diagnose adds to err: the cause and what to do, or "" when err is not a filesystem
// refusal or the journal looks writable now.
func Explain(stateDir string, err error) string {
	path := filepath.Join(stateDir, dbName)
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Sprintf("the state dir %s is full: free space on its filesystem", stateDir)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EROFS):
		if werr := fsx.CheckWritable(path); werr != nil {
			return werr.Error()
		}
		return fmt.Sprintf("check the mode, owner, mount and chattr attributes of the state dir %s", stateDir)
	}
	return ""
}
