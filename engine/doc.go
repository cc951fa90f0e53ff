// Package engine binds the pure reconciler to the real world: it builds reconcile.Desired from rekey.yaml,
// the decrypted values and the Compose project, and implements the executor's seams with files on disk,
// the Docker engine and the Compose CLI.
package engine
