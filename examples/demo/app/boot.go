package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// bootDelayEnv names the optional boot delay of the web mode: after its startup work (configuration, the
// PostgreSQL connection) the app waits this long before it listens, the way a Rails, Django, Node or JVM
// app spends seconds loading code and warming caches between its process start and its first accepted
// connection. Until it listens, connections are refused and `demoapp probe` fails, so Docker's health
// reports the boot as it is. Default 0: the demo app listens at once. Used by bench B2 through the proxy
// (-b2p-boot).
const bootDelayEnv = "DEMOAPP_BOOT_DELAY"

// maxBootDelay bounds the delay: a typo such as 2000s should not leave a container silent for half an hour.
const maxBootDelay = 5 * time.Minute

// parseBootDelay reads DEMOAPP_BOOT_DELAY: a Go duration ("2s", "1500ms"), empty for none.
func parseBootDelay(value string) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (e.g. 2s, 1500ms)", bootDelayEnv, value)
	}
	if d < 0 || d > maxBootDelay {
		return 0, fmt.Errorf("%s: %s is outside 0 to %s", bootDelayEnv, d, maxBootDelay)
	}
	return d, nil
}

// serveContext waits bootDelay, then listens on srv.Addr and serves until ctx is done, then shuts srv down
// gracefully. A stop during the delay ends it at once, without listening.
func serveContext(ctx context.Context, srv *http.Server, bootDelay time.Duration, listen func(network, addr string) (net.Listener, error)) error {
	if bootDelay > 0 {
		log.Printf("booting: listening on %s in %s (%s)", srv.Addr, bootDelay, bootDelayEnv)
		timer := time.NewTimer(bootDelay)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			log.Printf("shutting down before listening")
			return nil
		case <-timer.C:
		}
	}
	ln, err := listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
