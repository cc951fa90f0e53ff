package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/notify"
)

// alertSink is a real notifier sending to an HTTP endpoint of the test's own, which keeps every body.
type alertSink struct {
	*notify.Notifier
	mu     sync.Mutex
	bodies []string
}

func newAlertSink(t *testing.T) *alertSink {
	t.Helper()
	a := &alertSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.bodies = append(a.bodies, string(b))
		a.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	n, err := notify.New([]string{"generic+" + srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	a.Notifier = n
	return a
}

// sent flushes the notifier and returns the bodies the endpoint received, in order.
func (a *alertSink) sent(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.bodies)
}
