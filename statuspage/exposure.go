package statuspage

import (
	"fmt"
	"os"
	"strings"

	"github.com/rekeyhq/rekey/internal/exposure"
)

// CheckExposure refuses to serve the page on an address other hosts can reach unless basic auth is on: the
// page names every secret, consumer, container and file path of the stack. addr is a listen address as
// net.Listen takes it ("127.0.0.1:9465", "[::1]:9465", "localhost:9465"). An empty host (":9465"), an
// unspecified one ("0.0.0.0", "::"), any other IP and any host name but "localhost" count as reachable.
// It also refuses an address that is not host:port. The rule is exposure.Reachable, shared with the
// metrics endpoint.
func CheckExposure(addr string, hasAuth bool) error {
	reachable, err := exposure.Reachable(addr)
	if err != nil {
		return fmt.Errorf("invalid status page address %q: %w", addr, err)
	}
	if hasAuth || !reachable {
		return nil
	}
	return fmt.Errorf("the status page on %s is reachable from other hosts: bind it to 127.0.0.1 or set --status-basic-auth-file", addr)
}

// MinPasswordLen is the shortest password ReadBasicAuthFile accepts.
const MinPasswordLen = 12

// ReadBasicAuthFile reads the credentials for WithBasicAuth from a file holding one line "user:password"
// (a trailing newline is fine; the password may contain ':'). The user name must not be empty and the
// password must have at least MinPasswordLen characters. Errors never quote the file's content.
func ReadBasicAuthFile(path string) (user, password string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("failed to read the status page credentials: %w", err)
	}
	line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.ContainsAny(line, "\r\n") {
		return "", "", fmt.Errorf("%s must hold one line user:password", path)
	}
	user, password, ok := strings.Cut(line, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%s must hold one line user:password (no ':' found)", path)
	case user == "":
		return "", "", fmt.Errorf("%s: the user name before ':' is empty", path)
	case len([]rune(password)) < MinPasswordLen:
		return "", "", fmt.Errorf("%s: the password is empty or shorter than %d characters: generate one (e.g. openssl rand -base64 24)", path, MinPasswordLen)
	}
	return user, password, nil
}
