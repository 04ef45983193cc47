package runtime

import "sync"

// ctrlQueue is an unbounded queue for control traffic: acker messages and
// tree completions. It must never block its producers, because control
// traffic flows against the data (bolt → acker → spout) and a bounded queue
// there can close a cycle of full queues: the deadlock Storm's overflow
// buffers exist for. Its length is bounded anyway, by max spout pending times
// the tree sizes. A push signals only when the queue goes from empty to
// non-empty; a pop takes everything (after nats-server's ipqueue).
type ctrlQueue[T any] struct {
	mu     sync.Mutex
	items  []T
	spare  []T
	signal chan struct{}
}

func newCtrlQueue[T any]() *ctrlQueue[T] {
	return &ctrlQueue[T]{signal: make(chan struct{}, 1)}
}

func (q *ctrlQueue[T]) push(items ...T) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	empty := len(q.items) == 0
	q.items = append(q.items, items...)
	q.mu.Unlock()
	if empty {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
}

// popAll returns everything queued. The returned slice is valid until the
// next popAll.
func (q *ctrlQueue[T]) popAll() []T {
	q.mu.Lock()
	items := q.items
	q.items = q.spare[:0]
	q.spare = items
	q.mu.Unlock()
	return items
}
