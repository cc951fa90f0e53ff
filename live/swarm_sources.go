package live

import (
	"context"
	"fmt"
	"strings"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// SwarmSources reads and writes a Swarm stack's sources: the secret files on the manager, as Files does,
// and, with each value written, the versioned secret object holding it and the stack file's `name:`
// pointing at that object. The value reaches Docker only in the request that creates its object.
type SwarmSources struct {
	Files
	Stack *SwarmStack
	FP    func(string) string
	// Txn, when set, names the transaction that creates an object, for its label.
	Txn func() string
}

// WriteValue writes a managed secret's file, its object and its stack file's pointer, or a managed
// variable in its env_file.
func (s SwarmSources) WriteValue(ctx context.Context, l reconcile.Location, value string) error {
	if l.Key != "" {
		return s.writeEnv(ctx, l, value)
	}
	sec, ok := s.Stack.secretAt(l.Path)
	if !ok {
		return fmt.Errorf("%s is not the file: of a secret the services of stack %s mount: on Swarm rekey rotates such secrets only", l, s.Stack.Stack)
	}
	return s.put(ctx, sec, value)
}

// WriteFile puts a file back whole (a restore): for a managed secret's file, its object and pointer too.
func (s SwarmSources) WriteFile(ctx context.Context, path string, data []byte) error {
	if sec, ok := s.Stack.secretAt(path); ok {
		return s.put(ctx, sec, string(data))
	}
	return s.Files.WriteFile(ctx, path, data)
}

// put makes value the secret's current version. Order matters for a crash at any point: the object
// exists before the file holds its value, and the pointer moves last; a restore of the file moves the
// pointer back (the old object, labelled first with its fingerprint, is found again by it).
func (s SwarmSources) put(ctx context.Context, sec SwarmSecret, value string) error {
	cur, stackFile, err := s.Stack.pointer(ctx, sec.Key)
	if err != nil {
		return err
	}
	old, err := s.Files.ReadValue(ctx, reconcile.Location{Path: sec.File})
	if err != nil {
		return err
	}
	if old != "" && old != value {
		// The object the stack names holds the file's value (the stack was deployed from it): label it
		// as a version of the secret, so that a restore finds it and the observer may prune it later.
		if err := s.Stack.Swarm.AddLabels(ctx, cur, s.labels(sec, s.FP(old), false)); err != nil {
			return err
		}
	}
	name, err := s.objectFor(ctx, sec, value)
	if err != nil {
		return err
	}
	if err := s.Files.WriteValue(ctx, reconcile.Location{Path: sec.File}, value); err != nil {
		return err
	}
	if name == cur {
		return nil
	}
	data, _, err := s.Files.ReadFile(ctx, stackFile)
	if err != nil {
		return err
	}
	out, err := swarmio.SetSecretName(data, sec.Key, name)
	if err != nil {
		return fmt.Errorf("%s: %w", stackFile, err)
	}
	return s.Files.WriteFile(ctx, stackFile, out)
}

// objectFor returns the name of the object holding value: an existing version with its fingerprint, or
// a new object <stack>_<key>_<fingerprint>.
func (s SwarmSources) objectFor(ctx context.Context, sec SwarmSecret, value string) (string, error) {
	fp := s.FP(value)
	found, err := s.Stack.Swarm.SecretsLabelled(ctx, map[string]string{swarmio.LabelSecret: s.Stack.id(sec), swarmio.LabelFingerprint: fp})
	if err != nil {
		return "", err
	}
	if len(found) > 0 {
		return found[0].Name, nil
	}
	name := ObjectName(s.Stack.Stack, sec.Key, fp)
	if _, err := s.Stack.Swarm.EnsureSecret(ctx, name, []byte(value), s.labels(sec, fp, true)); err != nil {
		return "", err
	}
	return name, nil
}

// labels are those of a version of sec with fingerprint fp; created adds the transaction.
func (s SwarmSources) labels(sec SwarmSecret, fp string, created bool) map[string]string {
	l := map[string]string{
		swarmio.LabelNamespace: s.Stack.Stack, swarmio.LabelSecret: s.Stack.id(sec), swarmio.LabelFingerprint: fp,
	}
	if created && s.Txn != nil && s.Txn() != "" {
		l[swarmio.LabelTxn] = s.Txn()
	}
	return l
}

// ObjectName is the name of the object holding a version of a stack's secret: the stack, the secret's
// key and 12 hex digits of rekey's fingerprint of the value (an HMAC: the name reveals nothing of it).
func ObjectName(stack, key, fp string) string {
	hex := strings.TrimPrefix(fp, "hmac:")
	return stack + "_" + key + "_" + hex[:min(12, len(hex))]
}

// id is the label value naming a secret across its versions.
func (s *SwarmStack) id(sec SwarmSecret) string { return s.Stack + "/" + sec.Key }
