package dockerio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Compose labels set on every container that Compose creates.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelOneOff  = "com.docker.compose.oneoff"
)

// Health states reported in [Container.Health]. An empty string means the
// container has no healthcheck.
const (
	HealthNone      = ""
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Engine talks to one Docker engine through the Engine API.
type Engine struct {
	cli      *client.Client
	host     string
	redact   func(string) string
	poll     time.Duration
	stable   time.Duration
	maxBytes int64
}

// Option configures an [Engine].
type Option func(*Engine)

// WithHost sets the Docker host (for example unix:///var/run/docker.sock or
// tcp://127.0.0.1:2375). Empty means the client default
// (unix:///var/run/docker.sock). The environment is never consulted: the CLI
// passes DOCKER_HOST here explicitly.
func WithHost(host string) Option { return func(e *Engine) { e.host = host } }

// WithRedactor sets the function applied to the text of engine errors before
// they are wrapped into this package's errors (the engine may echo what it was
// given). The default is the identity. For the Compose CLI's output, set
// [Compose.Redact] (for example to [Engine.Redactor]).
func WithRedactor(f func(string) string) Option {
	return func(e *Engine) {
		if f != nil {
			e.redact = f
		}
	}
}

// WithPollInterval sets how often WaitHealthy inspects the containers
// (default 250ms).
func WithPollInterval(d time.Duration) Option {
	return func(e *Engine) {
		if d > 0 {
			e.poll = d
		}
	}
}

// WithStableWindow sets how long a container without a healthcheck must stay
// running with an unchanged restart count before WaitHealthy accepts it
// (default 2s).
func WithStableWindow(d time.Duration) Option {
	return func(e *Engine) {
		if d >= 0 {
			e.stable = d
		}
	}
}

// New connects to the Docker engine and pings it, which also negotiates the
// API version (dockerd 20.10 speaks API 1.41).
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	e := &Engine{
		redact:   func(s string) string { return s },
		poll:     250 * time.Millisecond,
		stable:   2 * time.Second,
		maxBytes: 16 << 20,
	}
	for _, o := range opts {
		o(e)
	}
	copts := []client.Opt{client.WithAPIVersionNegotiation()}
	if e.host != "" {
		copts = append(copts, client.WithHost(e.host))
	}
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create the docker client for %s: %w", e.hostName(), err)
	}
	e.cli = cli
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w; is dockerd running?", e.hostName(), err)
	}
	return e, nil
}

func (e *Engine) hostName() string {
	if e.host != "" {
		return e.host
	}
	return client.DefaultDockerHost
}

// Redactor returns the redaction function set with [WithRedactor].
func (e *Engine) Redactor() func(string) string { return e.redact }

// APIVersion is the negotiated Engine API version.
func (e *Engine) APIVersion() string { return e.cli.ClientVersion() }

// Close releases the client's connections.
func (e *Engine) Close() error {
	if e == nil || e.cli == nil {
		return nil
	}
	if err := e.cli.Close(); err != nil {
		return fmt.Errorf("failed to close the docker client: %w", err)
	}
	return nil
}

// Container is one container of a compose service.
type Container struct {
	ID        string
	Name      string // without the leading slash
	Service   string
	Running   bool
	Status    string // engine state: created, running, paused, restarting, removing, exited, dead
	Health    string // "", starting, healthy, unhealthy
	StartedAt time.Time
	Image     string // image reference as configured (Config.Image)
}

// Containers lists the containers (in every state) of a compose service,
// selected by the com.docker.compose.project and com.docker.compose.service
// labels. One-off containers (`compose run`) are skipped. The result is sorted
// by name.
func (e *Engine) Containers(ctx context.Context, project, service string) ([]Container, error) {
	list, err := e.list(ctx, project, service)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(list))
	for _, s := range list {
		insp, err := e.cli.ContainerInspect(ctx, s.ID)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed between list and inspect
			}
			return nil, fmt.Errorf("failed to inspect container %s of service %s: %w", shortID(s.ID), service, e.safe(err))
		}
		out = append(out, fromInspect(insp))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (e *Engine) list(ctx context.Context, project, service string) ([]container.Summary, error) {
	if project == "" || service == "" {
		return nil, errors.New("failed to list containers: project and service are required")
	}
	f := filters.NewArgs(
		filters.Arg("label", LabelProject+"="+project),
		filters.Arg("label", LabelService+"="+service),
	)
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("failed to list containers of service %s in project %s: %w", service, project, e.safe(err))
	}
	out := list[:0]
	for _, s := range list {
		if strings.EqualFold(s.Labels[LabelOneOff], "true") {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func fromInspect(insp container.InspectResponse) Container {
	c := Container{ID: insp.ID, Name: strings.TrimPrefix(insp.Name, "/")}
	if insp.Config != nil {
		c.Service = insp.Config.Labels[LabelService]
		c.Image = insp.Config.Image
	}
	if st := insp.State; st != nil {
		c.Running = st.Running
		c.Status = string(st.Status)
		if st.Health != nil {
			c.Health = string(st.Health.Status)
		}
		c.StartedAt = parseTime(st.StartedAt)
	}
	return c
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// Restart restarts a container through the Engine API and returns once it is
// started again. timeout is the grace period between the stop signal and
// SIGKILL, rounded up to whole seconds; a negative timeout uses the
// container's own stop timeout (compose stop_grace_period, default 10s).
func (e *Engine) Restart(ctx context.Context, id string, timeout time.Duration) error {
	var opts container.StopOptions
	if timeout >= 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	if err := e.cli.ContainerRestart(ctx, id, opts); err != nil {
		return fmt.Errorf("failed to restart container %s: %w", shortID(id), e.safe(err))
	}
	return nil
}

// safe passes the text of an engine error through the redactor; errors.Is
// and errors.As still reach the original.
func (e *Engine) safe(err error) error {
	return Safe(err, e.redact)
}

// Safe is what every engine error becomes before it leaves an adapter (this package's, and swarmio's
// calls on the same engine): its text passed through redact, errors.Is and errors.As still reaching the
// cause, and a failed connection marked UnreachableError, which the executor retries once dockerd is back.
func Safe(err error, redact func(string) string) error {
	if err == nil {
		return nil
	}
	return unreachable(redactedError{err: err, redact: redact})
}

type redactedError struct {
	err    error
	redact func(string) string
}

func (r redactedError) Error() string { return r.redact(r.err.Error()) }
func (r redactedError) Unwrap() error { return r.err }

// shortID shortens a full container ID as the docker CLI does; names pass
// unchanged.
func shortID(id string) string {
	if len(id) != 64 {
		return id
	}
	for _, r := range id {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return id
		}
	}
	return id[:12]
}

// Stop stops a container, waiting up to timeout for it to exit before killing it (negative: the
// engine's default).
func (e *Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	var opts container.StopOptions
	if timeout >= 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	if err := e.cli.ContainerStop(ctx, id, opts); err != nil {
		return fmt.Errorf("failed to stop container %s: %w", shortID(id), e.safe(err))
	}
	return nil
}
