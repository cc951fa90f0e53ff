package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// B1's observer sees what the consumers loaded. Two are selectable (-b1-observer):
//
//   - http (the default): the Docker API lists the running containers of app and worker, and the driver
//     GETs each one's /fingerprint straight from the host, at its address on the stack's network: a few
//     milliseconds per look, no process started. It looks only once the tool has said it is done, then
//     every 20 ms until the state holds (untilHeld).
//   - exec: the observer of sessions 1 to 4, stack.waitFor: `docker compose exec … /demoapp probe` in app
//     and then in worker, then 100 ms of sleep (~0.3–0.4 s a look), polled from the webhook on for rekey
//     and from `up --wait`'s return for the floor.
const (
	observerHTTP = "http"
	observerExec = "exec"
)

// b1ObserverMode is the -b1-observer flag.
var b1ObserverMode = observerHTTP

// b1Tick is how often the driver looks at the agent's log and, once the tool is done, at the consumers.
const b1Tick = 20 * time.Millisecond

// fingerprintPorts are where the demo's consumers serve /fingerprint (on every interface).
var fingerprintPorts = map[string]int{"app": 8080, "worker": 8081}

// b1Obs is one running container of app or worker as the http observer saw it: the fingerprints it
// serves, or why it did not answer.
type b1Obs struct {
	service, name string
	fps           map[string]string
	err           error
}

// b1Holds is B1's end state over one look at every running container of app and worker: at least one of
// each, every one answered, every app reports the new key and no previous one, every worker the new key.
// want is the new value's fingerprint. The reason says what does not hold yet (fingerprints only).
func b1Holds(want string, obs []b1Obs) (bool, string) {
	for _, o := range obs {
		switch {
		case o.err != nil:
			return false, fmt.Sprintf("%s (%s) did not answer: %v", o.name, o.service, o.err)
		case o.fps["session_key"] != want:
			return false, fmt.Sprintf("%s (%s) reports session_key %q", o.name, o.service, o.fps["session_key"])
		case o.service == "app" && o.fps["session_key_previous"] != "":
			return false, fmt.Sprintf("%s (app) still reports session_key_previous %q", o.name, o.fps["session_key_previous"])
		}
	}
	if svc := missingService(obs); svc != "" {
		return false, "no running container of " + svc
	}
	return true, ""
}

// missingService is the first of app and worker with no running container in obs, "" when both have one.
func missingService(obs []b1Obs) string {
	for _, svc := range []string{"app", "worker"} {
		if !slices.ContainsFunc(obs, func(o b1Obs) bool { return o.service == svc }) {
			return svc
		}
	}
	return ""
}

// httpObserver looks at one stack's consumers through the Docker API and their own HTTP endpoints.
type httpObserver struct {
	cli     *client.Client
	web     *http.Client
	project string
}

func newHTTPObserver(project string) (*httpObserver, error) {
	cli, err := client.NewClientWithOpts(client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil { // and the version negotiated now, not in the clock's first look
		cli.Close()
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	cli.NegotiateAPIVersion(ctx)
	// No keep-alive: a container that stopped must not be answered for by a pooled connection.
	web := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	return &httpObserver{cli: cli, web: web, project: project}, nil
}

// observerFor is the http observer of s, or nil with -b1-observer exec.
func observerFor(s *stack) (*httpObserver, error) {
	if b1ObserverMode == observerExec {
		return nil, nil
	}
	return newHTTPObserver(s.name)
}

func (o *httpObserver) close() {
	if o != nil {
		o.cli.Close()
	}
}

// look lists the running containers of app and worker and reads each one's fingerprints. A failed list
// is an error; a container that does not answer is an observation (it is starting or stopping).
func (o *httpObserver) look(ctx context.Context) ([]b1Obs, error) {
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+o.project), filters.Arg("status", "running"))
	list, err := o.cli.ContainerList(ctx, container.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list the containers of %s: %w", o.project, err)
	}
	var obs []b1Obs
	for _, c := range list {
		svc := c.Labels["com.docker.compose.service"]
		port, ok := fingerprintPorts[svc]
		if !ok || strings.EqualFold(c.Labels["com.docker.compose.oneoff"], "true") {
			continue
		}
		ob := b1Obs{service: svc, name: strings.TrimPrefix(firstName(c.Names), "/")}
		if ip := containerIP(c, o.project+"_default"); ip == "" {
			ob.err = fmt.Errorf("no address on the stack's network")
		} else {
			ob.fps, ob.err = o.get(ctx, fmt.Sprintf("http://%s:%d/fingerprint", ip, port))
		}
		obs = append(obs, ob)
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].name < obs[j].name })
	return obs, nil
}

func (o *httpObserver) get(ctx context.Context, url string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.web.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	var m map[string]string
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return m, nil
}

// holds is one look and its verdict.
func (o *httpObserver) holds(want string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	obs, err := o.look(ctx)
	if err != nil {
		return false, err.Error()
	}
	return b1Holds(want, obs)
}

// containerIP is the container's address on network, or on any network it has when that one is absent.
func containerIP(c container.Summary, network string) string {
	if c.NetworkSettings == nil {
		return ""
	}
	if ep := c.NetworkSettings.Networks[network]; ep != nil && ep.IPAddress != "" {
		return ep.IPAddress
	}
	for _, ep := range c.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
}

func firstName(names []string) string {
	if len(names) == 0 {
		return "?"
	}
	return names[0]
}

// ready checks, before a clock starts, that the observer sees the stack: at least one app and one worker,
// every one answering, none on the value about to be written (want its fingerprint). Without it, an
// observer that cannot reach the containers would only show as a timeout. exec (o nil): nothing to check.
func (o *httpObserver) ready(want string) error {
	if o == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	obs, err := o.look(ctx)
	if err != nil {
		return err
	}
	return b1Before(want, obs)
}

// b1Before is ready's verdict over one look.
func b1Before(want string, obs []b1Obs) error {
	for _, ob := range obs {
		switch {
		case ob.err != nil:
			return fmt.Errorf("before the clock, %s (%s) does not answer the observer: %w", ob.name, ob.service, ob.err)
		case ob.fps["session_key"] == want:
			return fmt.Errorf("before the clock, %s (%s) already reports the new key", ob.name, ob.service)
		}
	}
	if svc := missingService(obs); svc != "" {
		return fmt.Errorf("before the clock, the observer sees no running container of %s", svc)
	}
	return nil
}
