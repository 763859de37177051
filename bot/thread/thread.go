// Package thread is a long job's thread in chat, written once for every
// chat adapter: a root message, the job's lines under it in order, each
// step's progress edited in place (coalesced, and never more often than
// an interval allows), and the final state: the root edited, the summary
// posted. An adapter supplies what its platform gives (Platform: post a
// message in the thread, edit a message, post a long text) and keeps its
// own details (Slack's thread_ts, Discord's channel thread) to itself.
//
// Every call to the platform is made on one goroutine of the thread's,
// in the order the job gave its lines, so that a slow or rate-limited
// platform never holds up the job and lines never cross.
package thread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"odoobot/bot/serial"
	"odoobot/provision"
)

// Platform is what a chat platform gives a job's thread. Its errors are
// logged as they are: they must hold no token.
type Platform interface {
	// Post posts text as a new message in the thread and returns the
	// message's ID.
	Post(ctx context.Context, text string) (string, error)
	// Edit replaces the text of message id: the root (Config.Root) or a
	// message Post returned.
	Edit(ctx context.Context, id, text string) error
	// Summary posts a job's summary in the thread, as the platform shows
	// long text (a code block, or a file when it is longer than a
	// message).
	Summary(ctx context.Context, text string) error
}

// Layout is where a thread shows each step's start and progress.
type Layout int

const (
	// StepMessages shows each step's start as a message of the thread
	// that the step's progress edits, and that its end replaces when
	// progress was shown (else the end is a message of its own).
	StepMessages Layout = iota
	// StatusMessage keeps one status message in the thread, posted with
	// the first line and edited in place to show the latest line ("⏳ "
	// before it) and at the end the final state. A step's start and an
	// undo's start are shown there only; every other line is also posted
	// as a message of its own; progress edits the status message.
	StatusMessage
)

// Config is a thread's platform, root and presentation.
type Config struct {
	// Platform posts and edits the thread's messages. Required.
	Platform Platform
	// Root is the ID of the root message, which Finish edits.
	Root string
	// Layout places the steps' starts and progress.
	Layout Layout
	// Interval is the least time from the end of one edit of a message
	// to the start of the next (the status message's first edit also
	// waits it from its post); 0 edits at once.
	Interval time.Duration
	// Log receives what could not be delivered; nil logs nothing.
	Log *slog.Logger
	// Attrs are added to every log record (which channel, which thread).
	Attrs []any
}

// statusPrefix marks the status message's text while the job runs.
const statusPrefix = "⏳ "

// queueSize bounds the lines waiting for the platform; Post blocks while
// it is full.
const queueSize = 256

// Thread is a job's thread. Post, StepLine and Finish return at once (but
// Finish, which waits for everything queued before it); after Finish,
// Post and StepLine fail.
type Thread struct {
	cfg   Config
	queue *serial.Queue

	mu     sync.Mutex
	cur    *step // the step that started last and has not ended
	status *live // the status message (StatusMessage), nil until the first line
}

// step is one step of the job, guarded by its thread's mu.
type step struct {
	name   string
	msg    *live // the step's message (StepMessages)
	latest string
	queued bool // a progress delivery is in the queue
	ended  bool
}

// live is a message edited in place, guarded by its thread's mu.
type live struct {
	id     string    // "" until posted
	latest string    // the text to show
	shown  string    // the text it shows
	last   time.Time // when its last post or edit ended
	timer  *time.Timer
	edits  int // edits that succeeded
	done   bool
}

// New makes the thread under the root message cfg.Root and starts its
// goroutine.
func New(cfg Config) *Thread {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Thread{cfg: cfg, queue: serial.New(queueSize)}
}

func (t *Thread) warn(msg string, err error) {
	t.cfg.Log.Warn(msg, append(append([]any(nil), t.cfg.Attrs...), "err", err.Error())...)
}

// errFinished is what Post and StepLine return after Finish.
var errFinished = errors.New("thread: the thread is finished")

// Post queues a line for the thread: a message of its own (with the
// StatusMessage layout, also shown in the status message, and only there
// when it says that a step or an undo began). It returns at once; a line
// that cannot be delivered is logged.
func (t *Thread) Post(ctx context.Context, text string) error {
	ctx = context.WithoutCancel(ctx)
	if !t.queue.Do(func() { t.line(ctx, text) }, false) {
		return fmt.Errorf("thread: post: %w", errFinished)
	}
	return nil
}

// line, run by the queue, delivers one line.
func (t *Thread) line(ctx context.Context, text string) {
	if t.cfg.Layout != StatusMessage || !transient(text) {
		t.post(ctx, text)
	}
	if t.cfg.Layout == StatusMessage {
		t.setStatus(ctx, statusPrefix+text)
	}
}

// post, run by the queue, posts text as a message of its own and returns
// its ID ("" when it was lost, which is logged).
func (t *Thread) post(ctx context.Context, text string) string {
	id, err := t.cfg.Platform.Post(ctx, text)
	if err != nil {
		t.warn("thread: line lost", err)
		return ""
	}
	return id
}

// StepLine shows a step's line (a provision.FormatEvent line), as
// commands.Thread's StepLine documents: a start, progress (coalesced before
// it is queued: however many reports a step makes, the queue holds at
// most one progress delivery, carrying the latest; progress of a step
// that is not the one running is dropped), or an end, never dropped.
// Where each goes depends on the Layout. It returns at once.
func (t *Thread) StepLine(ctx context.Context, name string, kind provision.EventKind, line string) error {
	ctx = context.WithoutCancel(ctx)
	t.mu.Lock()
	var op func()
	switch kind {
	case provision.EventStart:
		s := &step{name: name}
		t.cur = s
		if t.cfg.Layout == StatusMessage {
			op = func() { t.line(ctx, line) }
		} else {
			s.msg = &live{}
			op = func() { t.startStep(ctx, s, line) }
		}
	case provision.EventProgress:
		s := t.cur
		if s == nil || s.name != name {
			t.mu.Unlock()
			return nil
		}
		s.latest = line
		if s.queued {
			t.mu.Unlock()
			return nil
		}
		s.queued = true
		op = func() { t.progress(ctx, s) }
	default:
		s := t.cur
		if s != nil && s.name == name {
			s.ended, s.latest = true, ""
			t.cur = nil
		} else {
			s = nil
		}
		if t.cfg.Layout == StatusMessage {
			op = func() { t.line(ctx, line) }
		} else {
			op = func() { t.endStep(ctx, s, line) }
		}
	}
	t.mu.Unlock()
	if !t.queue.Do(op, false) {
		return fmt.Errorf("thread: step line: %w", errFinished)
	}
	return nil
}

// startStep, run by the queue, posts a step's start as its message.
func (t *Thread) startStep(ctx context.Context, s *step, line string) {
	id := t.post(ctx, line)
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != "" {
		s.msg.id, s.msg.shown = id, line
	}
}

// progress, run by the queue, shows a step's latest progress (in its
// message, or in the status message), unless the step ended since.
func (t *Thread) progress(ctx context.Context, s *step) {
	t.mu.Lock()
	line := s.latest
	s.latest, s.queued = "", false
	if line == "" || s.ended {
		t.mu.Unlock()
		return
	}
	if t.cfg.Layout == StatusMessage {
		t.mu.Unlock()
		t.setStatus(ctx, statusPrefix+line)
		return
	}
	if s.msg.id == "" { // the start was lost: nothing to edit
		t.mu.Unlock()
		return
	}
	t.schedule(ctx, s.msg, line)
	t.mu.Unlock()
}

// endStep, run by the queue, shows a step's end: in place of its
// progress when progress was shown in the step's message, else as a
// message of its own (s is nil for the end of a step that is not the one
// running).
func (t *Thread) endStep(ctx context.Context, s *step, line string) {
	if s != nil {
		t.mu.Lock()
		m := s.msg
		m.done = true
		if m.timer != nil {
			m.timer.Stop()
			m.timer = nil
		}
		replace := m.id != "" && m.edits > 0
		t.mu.Unlock()
		if replace {
			err := t.finalEdit(ctx, m, line)
			if err == nil {
				return
			}
			t.warn("thread: step line: edit failed; posting it", err)
		}
	}
	t.post(ctx, line)
}

// setStatus, run by the queue, shows text in the status message: posted
// at once the first time, then edited no more often than the interval
// allows, the latest text winning.
func (t *Thread) setStatus(ctx context.Context, text string) {
	t.mu.Lock()
	if t.status == nil {
		t.status = &live{}
	}
	m := t.status
	if m.id != "" {
		t.schedule(ctx, m, text)
		t.mu.Unlock()
		return
	}
	m.latest = text
	t.mu.Unlock()
	id, err := t.cfg.Platform.Post(ctx, text)
	t.mu.Lock()
	defer t.mu.Unlock()
	m.last = time.Now()
	if err != nil {
		t.warn("thread: status message", err)
		return
	}
	m.id, m.shown = id, text
}

// schedule, called with t.mu held, sets m's next text and, unless an
// edit is already on its way (it will carry this text), queues one for
// when the interval since m's last change has passed.
func (t *Thread) schedule(ctx context.Context, m *live, text string) {
	m.latest = text
	if m.timer != nil || m.done {
		return
	}
	wait := max(t.cfg.Interval-time.Since(m.last), 0)
	m.timer = time.AfterFunc(wait, func() {
		// A queue closed by Finish refuses it: Finish shows the end.
		t.queue.Do(func() { t.flush(ctx, m) }, false)
	})
}

// flush, run by the queue, edits m to its latest text.
func (t *Thread) flush(ctx context.Context, m *live) {
	t.mu.Lock()
	m.timer = nil
	text := m.latest
	if m.done || m.id == "" || text == m.shown {
		t.mu.Unlock()
		return
	}
	id := m.id
	t.mu.Unlock()
	err := t.cfg.Platform.Edit(ctx, id, text)
	t.mu.Lock()
	defer t.mu.Unlock()
	m.last = time.Now() // edits are spaced from the end of the last one
	if err != nil {
		t.warn("thread: edit in place", err)
		return
	}
	m.shown = text
	m.edits++
}

// finalEdit, run by the queue, edits m to text once the interval since
// its last change has passed.
func (t *Thread) finalEdit(ctx context.Context, m *live, text string) error {
	t.mu.Lock()
	wait := t.cfg.Interval - time.Since(m.last)
	id := m.id
	t.mu.Unlock()
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	err := t.cfg.Platform.Edit(ctx, id, text)
	t.mu.Lock()
	defer t.mu.Unlock()
	m.last = time.Now()
	if err != nil {
		return err
	}
	m.shown = text
	return nil
}

// Finish waits for the queued lines, then edits the root to root, posts
// summary (when not blank) with Platform.Summary and, with the
// StatusMessage layout, sets the status message to root. A root edit
// that fails is tried once more, an interval later; when that fails too,
// root is posted in the thread instead (finalTries attempts, the waits
// doubling from the interval), so that the job's final state is shown
// unless the platform refuses every call for some 10 s (the root still
// says what it said). Later Posts fail. The error joins what could not
// be shown.
func (t *Thread) Finish(ctx context.Context, root, summary string) error {
	done := make(chan error, 1)
	ok := t.queue.Do(func() {
		var errs []error
		if err := t.editRoot(ctx, root); err != nil {
			errs = append(errs, err)
		}
		if strings.TrimSpace(summary) != "" {
			if err := t.cfg.Platform.Summary(ctx, summary); err != nil {
				errs = append(errs, fmt.Errorf("thread: summary: %w", err))
			}
		}
		if err := t.finalStatus(ctx, root); err != nil {
			errs = append(errs, fmt.Errorf("thread: status message: %w", err))
		}
		done <- errors.Join(errs...)
	}, true)
	if !ok {
		return errors.New("thread: finish: already finished")
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finalTries bounds the attempts at posting a job's final state in its
// thread when the root cannot be edited. The waits between them double
// from the interval (at least minFinalWait): with the 1 s interval, 1, 2
// and 4 s, so that an outage of some 10 s at the job's end still leaves
// its final state shown.
const (
	finalTries   = 4
	minFinalWait = time.Millisecond
)

// editRoot, run by the queue, edits the root to text, tries once more an
// interval later when that fails (an edit refused for good, a message
// deleted or a permission lost, is not worth more), and then posts text
// in the thread instead, tried finalTries times. It fails only when the
// final state could not be shown at all.
func (t *Thread) editRoot(ctx context.Context, text string) error {
	err := t.cfg.Platform.Edit(ctx, t.cfg.Root, text)
	if err == nil {
		return nil
	}
	t.warn("thread: root edit failed; trying again", err)
	if serr := sleep(ctx, t.cfg.Interval); serr != nil {
		return fmt.Errorf("thread: edit the root: %w", errors.Join(err, serr))
	}
	if err = t.cfg.Platform.Edit(ctx, t.cfg.Root, text); err == nil {
		return nil
	}
	t.warn("thread: root edit failed again; posting the final state in the thread", err)
	perr := t.retry(ctx, func() error {
		_, err := t.cfg.Platform.Post(ctx, text)
		return err
	})
	if perr != nil {
		return fmt.Errorf("thread: edit the root: %w", errors.Join(err, perr))
	}
	return nil
}

// retry calls f until it succeeds, finalTries times at most, waiting
// between two calls the interval, then twice as long each time. It
// returns the last failure.
func (t *Thread) retry(ctx context.Context, f func() error) error {
	wait := max(t.cfg.Interval, minFinalWait)
	var err error
	for try := 1; ; try++ {
		if err = f(); err == nil || try == finalTries {
			return err
		}
		t.warn(fmt.Sprintf("thread: posting the final state failed (attempt %d of %d); trying again", try, finalTries), err)
		if serr := sleep(ctx, wait); serr != nil {
			return errors.Join(err, serr)
		}
		wait *= 2
	}
}

// finalStatus, run by the queue, shows text in the status message, once
// the interval allows; it does nothing when there is none.
func (t *Thread) finalStatus(ctx context.Context, text string) error {
	t.mu.Lock()
	m := t.status
	if m == nil || m.id == "" {
		t.mu.Unlock()
		return nil
	}
	m.done = true
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	same := m.shown == text
	t.mu.Unlock()
	if same {
		return nil
	}
	return t.finalEdit(ctx, m, text)
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports whether line (a provision.FormatEvent line) only
// says that a step or an undo began.
func transient(line string) bool {
	f := strings.Fields(line)
	return len(f) >= 2 && (f[1] == eventMark(provision.EventStart) || f[1] == eventMark(provision.EventUndo))
}

// eventMark is the mark provision.FormatEvent gives an event of kind k.
func eventMark(k provision.EventKind) string {
	f := strings.Fields(provision.FormatEvent(provision.Event{Kind: k, Step: "x"}))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}
