package composeio

import (
	"fmt"
	"os"
)

// MaxInputSize is the largest compose file or `.env` rekey loads. compose-go reads them whole, so a
// device or a huge file named in rekey.yaml is refused before it is opened for reading.
const MaxInputSize = 16 << 20

// checkInputs refuses a compose file or `.env` that is not a regular file or is over MaxInputSize. An
// empty path (no `.env`) is skipped; a missing file is left to compose-go's own message.
func checkInputs(paths []string) error {
	for _, path := range paths {
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			continue
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file (%s): rekey reads only regular compose files and .env", path, fi.Mode().Type())
		case fi.Size() > MaxInputSize:
			return fmt.Errorf("%s is %d bytes, over the limit of %d bytes for a compose file or .env", path, fi.Size(), MaxInputSize)
		}
	}
	return nil
}
