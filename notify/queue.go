package notify

import (
	"sync"
)

// queue is the bounded FIFO between the callers of Raise/Clear and the one worker goroutine that sends. It
// never blocks a producer: when full it drops the oldest message, because a newer message about the same
// incident supersedes an older one, while a dropped newest message (a recovery, say) would leave the
// receiver believing a stale state for good.
type queue struct {
	mu     sync.Mutex
	items  []message
	limit  int
	closed bool
	wake   chan struct{} // capacity 1: "there may be something to do"; more signals fold into one
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, wake: make(chan struct{}, 1)}
}

// push appends m. When the queue is full it drops the oldest message and returns it with full set. A closed
// queue refuses m (closed set).
func (q *queue) push(m message) (lost message, full, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return m, false, true
	}
	if len(q.items) >= q.limit {
		lost, full = q.items[0], true
		q.items[0] = message{}
		q.items = q.items[1:]
	}
	q.items = append(q.items, m)
	q.signal()
	return lost, full, false
}

// pop removes the oldest message. ok is false when the queue is empty; closed then says whether more can
// ever arrive.
func (q *queue) pop() (m message, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return message{}, false, q.closed
	}
	m = q.items[0]
	q.items[0] = message{}
	q.items = q.items[1:]
	return m, true, q.closed
}

// close refuses further messages; those already queued are still handed out by pop.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

// drain empties the queue and returns how many messages it held.
func (q *queue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	return n
}

// signal wakes the worker without blocking; callers hold q.mu.
func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
