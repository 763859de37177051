// Package serial runs functions one after the other, in the order they
// were given, on a goroutine of their own: how a chat thread's lines are
// delivered in order without making the job that posts them wait on the
// chat platform.
package serial

import "sync"

// Queue runs the functions given to Do in order. The zero value is not
// usable: make one with New.
type Queue struct {
	mu     sync.Mutex
	closed bool
	ops    chan func()
}

// New starts a queue holding up to size functions not yet run; Do blocks
// while it is full.
func New(size int) *Queue {
	q := &Queue{ops: make(chan func(), size)}
	go func() {
		for op := range q.ops {
			op()
		}
	}()
	return q
}

// Do queues op and, when last is set, closes the queue after it. It
// reports false, and runs nothing, once the queue is closed.
func (q *Queue) Do(op func(), last bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.ops <- op
	if last {
		q.closed = true
		close(q.ops)
	}
	return true
}
