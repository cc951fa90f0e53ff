package live

import "github.com/rekeyhq/rekey/reconcile"

// Compose is the runtime of a Compose project on one Docker host (reconcile.Runtime): sources are files on
// disk, consumers are compose services (and host paths), rolled through the Compose CLI and the Docker
// API, and checks exec in their containers, read their logs or call HTTP. Its parts are set one by one in
// the executor's fields; another runtime replaces them together.
type Compose struct {
	Files
	*Stack
	*Checks
}

var (
	_ reconcile.Runtime         = Compose{}
	_ reconcile.Stopper         = Compose{}
	_ reconcile.ContainerLister = Compose{}
)
