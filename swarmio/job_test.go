package swarmio

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/client"
)

// fakeRelayEngine answers the two calls removeRelay makes: the job's removal fails failJob times (a
// manager electing its leader, say), and its stdin object cannot go while the job refers to it.
type fakeRelayEngine struct {
	mu                 sync.Mutex
	failJob            int
	job, stdin         bool
	jobCalls, secCalls int
}

func (f *fakeRelayEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	notFound := func() { http.Error(w, `{"message":"not found"}`, http.StatusNotFound) }
	switch {
	case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/services/"):
		f.jobCalls++
		switch {
		case f.failJob > 0:
			f.failJob--
			http.Error(w, `{"message":"rpc error: the swarm does not have a leader"}`, http.StatusServiceUnavailable)
		case !f.job:
			notFound()
		default:
			f.job = false
		}
	case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/secrets/"):
		f.secCalls++
		switch {
		case !f.stdin:
			notFound()
		case f.job:
			http.Error(w, `{"message":"secret is in use by the following service: rekey-relay-x"}`, http.StatusBadRequest)
		default:
			f.stdin = false
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		http.Error(w, `{"message":"unexpected"}`, http.StatusNotImplemented)
	}
}

// TestRemoveRelayRetriesTheJob: a relay's job whose first removal fails is removed on a later try, and
// its stdin object (the driver's SQL, a password) with it; it was left, with the node's Docker socket
// mounted, until the next run's sweep.
func TestRemoveRelayRetriesTheJob(t *testing.T) {
	f := &fakeRelayEngine{failJob: 2, job: true, stdin: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s := &Swarm{cli: cli, redact: func(v string) string { return v }}
	s.removeRelay("rekey-relay-x")
	f.mu.Lock()
	if f.job || f.stdin {
		t.Errorf("left behind: job %v, stdin object %v (%d removals of the job, %d of the object)", f.job, f.stdin, f.jobCalls, f.secCalls)
	}
	// No stdin object (a command without stdin): the job alone is removed, at once.
	f.failJob, f.job, f.jobCalls = 0, true, 0
	f.mu.Unlock()
	s.removeRelay("rekey-relay-y")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job || f.jobCalls != 1 {
		t.Errorf("job left %v after %d removals", f.job, f.jobCalls)
	}
}
