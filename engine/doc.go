// Package engine compiles the desired state: it builds reconcile.Desired from rekey.yaml, the decrypted
// values and the Compose project (which files and variables hold each secret, which services consume it
// and in what order they roll, which checks verify it, which credential server stages it). It only reads
// the config and the project; the adapters that act on a live stack are in package live.
package engine
