// Package live implements the executor's ports (package reconcile) against a running Compose project on
// one Docker host: sources are files on disk (Files), consumers are compose services rolled through the
// Compose CLI and the Docker API (Stack), checks run in their containers, read their logs or call HTTP
// (Checks), credential servers are reached through their drivers (Credentials), and what is live is
// read back for plans (Observer) and drift (DriftScanner). Together, Files, Stack and Checks form the
// Compose runtime (see reconcile.Runtime and Compose).
//
// The desired state these adapters act on is compiled elsewhere (package engine); the Docker and Compose
// mechanics they call are in package dockerio.
package live
