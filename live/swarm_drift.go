package live

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// SwarmDrift reads what the services of a Swarm stack run, for the drift scan (DriftScanner.Swarm): one
// live consumer per task that should run, and one for the service's spec when a task runs another (an
// update paused or under way). Swarm never returns a secret object's data: an object's value is known by
// rekey's fingerprint label, or — for the object the stack file names, whose labels `docker stack deploy`
// may have replaced — taken to be its file's (deploy created it from the file); any other object runs
// a value rekey cannot vouch for and is drift. A variable is read from the spec's Env.
type SwarmDrift struct {
	Stack *SwarmStack
	FP    func(string) string
}

// Consumer fingerprints what each task of c runs of sec, what it would run with desired (Git's value)
// and with what its sources hold now.
func (d SwarmDrift) Consumer(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, desired string) ([]reconcile.LiveConsumer, error) {
	read, err := d.reader(ctx, sec, c, desired)
	if err != nil {
		return []reconcile.LiveConsumer{{Consumer: c.Name, Err: err.Error()}}, nil
	}
	spec, tasks, err := d.Stack.Swarm.RunningSpecs(ctx, d.Stack.Service(c.Name))
	if err != nil {
		return nil, err
	}
	var out []reconcile.LiveConsumer
	converged := true
	specFP, err := read.fp(ctx, spec)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		fp, err := read.fp(ctx, t)
		if err != nil {
			return nil, err
		}
		converged = converged && fp == specFP
		out = append(out, reconcile.LiveConsumer{Consumer: c.Name, Container: shortID(t.Task), Started: t.Created,
			FP: fp, DesiredFP: read.desired, SourceFP: read.source})
	}
	if !converged || len(tasks) == 0 {
		out = append(out, reconcile.LiveConsumer{Consumer: c.Name, Container: "spec", FP: specFP, DesiredFP: read.desired, SourceFP: read.source})
	}
	return out, nil
}

// swarmReading is how one consumer gets one secret: a file target or variables, with the fingerprints
// of the wanted values.
type swarmReading struct {
	d               SwarmDrift
	sec             SwarmSecret // set for a file secret
	target, pointer string      // its target in the service, the object its stack file names
	vars            []string    // set for a variable secret
	values          map[string]string
	desired, source string // fingerprints: with Git's value, with the sources' values
	file            string // fingerprint of a file secret's content (a derived file's form, not its value)
}

func (d SwarmDrift) reader(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, desired string) (*swarmReading, error) {
	desiredFP := sec.DesiredFP
	if desired != "" {
		desiredFP = d.FP(desired)
	}
	r := &swarmReading{d: d, desired: desiredFP}
	for _, l := range sec.Current {
		if ms, ok := d.Stack.secretAt(l.Path); ok && l.Key == "" && ms.Mounts[c.Name] != "" {
			pointer, _, err := d.Stack.pointer(ctx, ms.Key)
			if err != nil {
				return nil, err
			}
			source, err := d.Stack.Files.ReadValue(ctx, l)
			if err != nil {
				return nil, err
			}
			r.sec, r.target, r.pointer, r.source, r.file = ms, ms.Mounts[c.Name], pointer, d.FP(source), d.FP(source)
			if f := d.Stack.Files.Forms; l.Form != "" && f != nil {
				// A derived file holds a form of the value: judged by the value it carries (driftforms.go).
				r.source, r.desired = f.carried(l, source, d.FP, sec.DesiredFP), sec.DesiredFP
			}
			return r, nil
		}
	}
	r.values = map[string]string{}
	for _, l := range sec.Current {
		e, ok := d.Stack.envAt(l)
		if !ok || e.Files[c.Name] == "" || slices.Contains(r.vars, l.Key) {
			continue
		}
		v, err := d.Stack.deployedValue(ctx, e.Files[c.Name], l.Key)
		if err != nil {
			return nil, err
		}
		r.vars, r.values[l.Key] = append(r.vars, l.Key), v
	}
	if len(r.vars) == 0 {
		return nil, fmt.Errorf("rekey cannot see how service %s reads the secret (neither a secret it mounts nor a variable of its env_files)", d.Stack.Service(c.Name))
	}
	r.desired, r.source = r.envFP(func(string) string { return desired }), r.envFP(func(v string) string { return r.values[v] })
	return r, nil
}

// envFP fingerprints the managed variables with the values value gives.
func (r *swarmReading) envFP(value func(string) string) string {
	parts := make([]string, 0, len(r.vars))
	for _, v := range r.vars {
		parts = append(parts, v+"="+value(v))
	}
	return r.d.FP(strings.Join(parts, "\x00"))
}

// fp fingerprints what a spec or task runs of the secret.
func (r *swarmReading) fp(ctx context.Context, run swarmio.Running) (string, error) {
	if r.vars != nil {
		return r.envFP(func(v string) string {
			if value, ok := swarmio.EnvValue(run.Env, v); ok {
				return value
			}
			return "\x00unset" // no value Git could hold
		}), nil
	}
	id, ok := run.Secrets[r.target]
	if !ok {
		return "mounts nothing at /run/secrets/" + r.target, nil
	}
	obj, found, err := r.d.Stack.Swarm.SecretByID(ctx, id)
	switch {
	case err != nil:
		return "", err
	case !found:
		return "object " + id + " removed", nil
	}
	return r.objectFP(obj), nil
}

// objectFP fingerprints what a secret object holds of the secret: an object holding the file's content
// carries what the file carries.
func (r *swarmReading) objectFP(obj swarmio.Secret) string {
	switch {
	case obj.Labels[swarmio.LabelSecret] == r.d.Stack.id(r.sec) && obj.Labels[swarmio.LabelFingerprint] == r.file:
		return r.source
	case obj.Labels[swarmio.LabelSecret] == r.d.Stack.id(r.sec) && obj.Labels[swarmio.LabelFingerprint] != "":
		return obj.Labels[swarmio.LabelFingerprint]
	case obj.Name == r.pointer:
		return r.source
	}
	return "object " + obj.Name // one rekey did not write: no value rekey can vouch for
}
