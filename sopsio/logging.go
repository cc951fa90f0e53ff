package sopsio

import (
	"io"

	"github.com/getsops/sops/v3/logging"
)

// The sops library logs to stderr through its own loggers, in places with
// parts of documents (for example a comment that fails to decrypt). rekey
// reports through errors only, so those loggers are silenced.
func init() {
	for _, l := range logging.Loggers {
		l.SetOutput(io.Discard)
	}
}
