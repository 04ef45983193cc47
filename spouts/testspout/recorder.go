package testspout

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Recorder collects what the tasks of one test spout component emit, and
// the acks and fails they receive. It is safe for concurrent use. The zero
// value is not usable; call [NewRecorder]. Use one recorder per component.
type Recorder struct {
	mu struct {
		sync.Mutex
		parallelism int // from the first Open; 0 before
		tasks       map[int]*taskRecord
		acked       []int
		failed      []int
		emitted     int
	}
	done chan struct{} // closed once Done becomes true
}

// taskRecord is one task's progress.
type taskRecord struct {
	reliable bool
	// finished: the task has emitted everything it ever will (its slice is
	// used up, or its channel is closed and drained).
	finished bool
	// outstanding ids: emitted reliably and not acked yet.
	outstanding map[int]bool
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{done: make(chan struct{})}
	r.mu.tasks = make(map[int]*taskRecord)
	return r
}

// Acked returns the message ids acked so far, sorted; an id acked by several
// tasks (or replayed and acked again) appears once per ack.
func (r *Recorder) Acked() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.mu.acked)
	slices.Sort(s)
	return s
}

// Failed returns the message ids failed so far, sorted, once per failure.
func (r *Recorder) Failed() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.mu.failed)
	slices.Sort(s)
	return s
}

// Emitted returns the number of tuples emitted, replays included.
func (r *Recorder) Emitted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.emitted
}

// Pending returns the number of reliably emitted ids not acked yet, over all
// tasks.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.mu.tasks {
		n += len(t.outstanding)
	}
	return n
}

// Done reports whether every task of the spout has opened, emitted all it
// will, and (when reliable) seen every one of its ids acked, or failed for
// good under [NoRetry].
func (r *Recorder) Done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doneLocked()
}

// WaitDone blocks until [Recorder.Done] holds or ctx ends; then it returns
// ctx's error with the progress so far.
func (r *Recorder) WaitDone(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("testspout: not done (%d emitted, %d pending, %d failed): %w",
			r.Emitted(), r.Pending(), len(r.Failed()), ctx.Err())
	}
}

func (r *Recorder) doneLocked() bool {
	if r.mu.parallelism == 0 || len(r.mu.tasks) < r.mu.parallelism {
		return false
	}
	for _, t := range r.mu.tasks {
		if !t.finished || len(t.outstanding) > 0 {
			return false
		}
	}
	return true
}

// checkLocked closes done when the recorder has just become done.
func (r *Recorder) checkLocked() {
	if r.doneLocked() {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
}

func (r *Recorder) open(index, parallelism int, reliable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.parallelism == 0 {
		r.mu.parallelism = max(parallelism, 1)
	}
	r.mu.tasks[index] = &taskRecord{reliable: reliable, outstanding: make(map[int]bool)}
}

func (r *Recorder) emit(index, id int, tracked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.emitted++
	if tracked {
		r.mu.tasks[index].outstanding[id] = true
	}
}

func (r *Recorder) finish(index int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.mu.tasks[index]; !t.finished {
		t.finished = true
		r.checkLocked()
	}
}

func (r *Recorder) ack(index, id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.acked = append(r.mu.acked, id)
	delete(r.mu.tasks[index].outstanding, id)
	r.checkLocked()
}

func (r *Recorder) fail(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.failed = append(r.mu.failed, id)
}

// giveUp stops waiting for an id that failed and will not be replayed.
func (r *Recorder) giveUp(index, id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mu.tasks[index].outstanding, id)
	r.checkLocked()
}
