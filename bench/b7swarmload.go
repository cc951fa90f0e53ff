package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// proxyLoad is B7's load: b2Load clients on loopback, each with keep-alive, one GET /fingerprint every
// 20 ms to the app through the stack's proxy (its published port). A request fails on a
// transport error, a non-200 answer, or after 3 s. It also counts the answers that carry the new value.
type proxyLoad struct {
	requests, failed, onNew atomic.Int64
	slowest                 atomic.Int64 // nanoseconds
	newFP                   string
	cancel                  context.CancelFunc
	wg                      sync.WaitGroup
	mu                      sync.Mutex
	errs                    map[string]int // failure reasons, for the report
}

func startProxyLoad(port int, newValue string) *proxyLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &proxyLoad{cancel: cancel, newFP: fp(newValue), errs: map[string]int{}}
	url := fmt.Sprintf("http://127.0.0.1:%d/fingerprint", port)
	startClients(ctx, &l.wg, func(c *http.Client) { l.hit(ctx, c, url) })
	return l
}

func (l *proxyLoad) hit(ctx context.Context, c *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not a failure
	}
	l.requests.Add(1)
	for took := int64(time.Since(start)); ; {
		if old := l.slowest.Load(); took <= old || l.slowest.CompareAndSwap(old, took) {
			break
		}
	}
	if err != nil {
		l.fail(reason(err))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.fail(resp.Status)
		return
	}
	var fps map[string]string
	if json.Unmarshal(body, &fps) == nil && fps["webhook_token"] == l.newFP {
		l.onNew.Add(1)
	}
}

func (l *proxyLoad) fail(reason string) {
	l.failed.Add(1)
	l.mu.Lock()
	l.errs[reason]++
	l.mu.Unlock()
}

// proxyResult is one rotation under load.
type proxyResult struct {
	requests, failed, onNew int64
	slowest                 time.Duration
	errs                    map[string]int
}

func (l *proxyLoad) stop() proxyResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return proxyResult{requests: l.requests.Load(), failed: l.failed.Load(), onNew: l.onNew.Load(),
		slowest: time.Duration(l.slowest.Load()), errs: l.errs}
}

// reason names what failed in a few words: the innermost error (a reset, a refused dial, EOF), or a
// timeout.
func reason(err error) string {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "timeout"
	}
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err.Error()
		}
		err = u.Unwrap()
	}
}
