package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// gapProbe measures the outage the load's failed requests understate: while Redis is down, a request
// hangs until its client's timeout instead of failing at once, so few fail. It asks the app's /count
// every 20 ms (1 s timeout) and keeps the longest stretch without a successful answer in a window.
type gapProbe struct {
	mu      sync.Mutex
	last    time.Time
	longest time.Duration
}

func startGapProbe(ctx context.Context, port int) *gapProbe {
	g := &gapProbe{last: time.Now()}
	url := fmt.Sprintf("http://127.0.0.1:%d/count", port)
	client := &http.Client{Timeout: time.Second}
	go func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					g.success(time.Now())
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return g
}

func (g *gapProbe) success(at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.longest = max(g.longest, at.Sub(g.last))
	g.last = at
}

// window returns the longest gap since the last call (an open one included) and starts a new window.
func (g *gapProbe) window() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	longest := max(g.longest, time.Since(g.last))
	g.longest = 0
	return longest
}
