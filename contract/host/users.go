package host

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vchain-dev/vchain/hyperlog"
	"github.com/vchain-dev/vchain/internal/durable"
)

// A user's log replica lives in users/<key>/. A new one is built in
// users/.new-<key>-<random>/ and renamed into place once its entries are
// in, so a users/<key>/ directory always holds a complete, verified log.
const newUserPrefix = ".new-"

// userWait is how long a request waits for a user log slot when
// MaxOpenUserLogs logs are all in use before it is refused with ErrBusy.
const userWait = 10 * time.Second

// userLog is the host's replica of one user's log, open while it is in the
// user cache.
type userLog struct {
	key   hyperlog.Hash
	log   *hyperlog.Log
	err   error         // why the log could not be opened
	ready chan struct{} // closed once log or err is set
	refs  int           // holders; only an unheld log is closed
	elem  *list.Element // in the idle list while refs == 0
}

// userCache keeps at most max user logs open: a log opens when a request
// needs it and stays open while held; when a log must open and max are
// open, the least recently used log nobody holds is closed first.
// Requests that would go beyond max wait for a slot (acquire with wait);
// internal readers, which hold one log for a moment and must not wait on
// requests, may go beyond it briefly.
type userCache struct {
	max int
	log *slog.Logger
	// closed is told of each log the cache closed without error, with
	// its length; forget of each it leaves open at closeAll.
	onClose func(pub hyperlog.Hash, length uint64)
	forget  func(pub hyperlog.Hash)

	mu      sync.Mutex
	open    map[hyperlog.Hash]*userLog // open or opening
	idle    list.List                  // of *userLog nobody holds, most recent first
	closing map[hyperlog.Hash]chan struct{}
	freed   chan struct{} // closed (and replaced) when a slot may have freed
	closed  bool
}

func newUserCache(max int, log *slog.Logger) *userCache {
	return &userCache{max: max, log: log, open: map[hyperlog.Hash]*userLog{},
		closing: map[hyperlog.Hash]chan struct{}{}, freed: make(chan struct{}),
		onClose: func(hyperlog.Hash, uint64) {}, forget: func(hyperlog.Hash) {}}
}

// closeLog closes an open log and reports it.
func (c *userCache) closeLog(u *userLog) error {
	n := u.log.Length()
	err := u.log.Close()
	if err == nil {
		c.onClose(u.key, n)
	} else {
		c.forget(u.key)
	}
	return err
}

// errHostClosing is returned for requests that arrive while the host closes.
var errHostClosing = errors.New("host is closing")

// acquire returns the open log of pub, opening it with open when it is not
// open. The caller must release it. With wait, it waits (until ctx is done)
// while max logs are open and all are held.
func (c *userCache) acquire(ctx context.Context, pub hyperlog.Hash, wait bool, open func() (*hyperlog.Log, error)) (*userLog, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errHostClosing
		}
		if u := c.open[pub]; u != nil {
			u.refs++
			if u.elem != nil {
				c.idle.Remove(u.elem)
				u.elem = nil
			}
			c.mu.Unlock()
			select {
			case <-u.ready:
			case <-ctx.Done():
				c.release(u)
				return nil, ctx.Err()
			}
			if u.err != nil {
				c.release(u)
				return nil, u.err
			}
			return u, nil
		}
		if ch := c.closing[pub]; ch != nil {
			// The log is being closed: it must be closed before it opens
			// again (a log has one writer).
			c.mu.Unlock()
			<-ch
			continue
		}
		if len(c.open) >= c.max {
			if c.evictLocked() {
				continue
			}
			if wait {
				freed := c.freed
				c.mu.Unlock()
				select {
				case <-freed:
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		u := &userLog{key: pub, ready: make(chan struct{}), refs: 1}
		c.open[pub] = u
		c.mu.Unlock()
		u.log, u.err = open()
		close(u.ready)
		if u.err != nil {
			c.mu.Lock()
			if c.open[pub] == u {
				delete(c.open, pub)
			}
			c.mu.Unlock()
			c.release(u)
			return nil, u.err
		}
		return u, nil
	}
}

// evictLocked closes the least recently used log nobody holds, if any. It
// is called with c.mu held and returns with it released when it evicted
// (true), held otherwise.
func (c *userCache) evictLocked() bool {
	e := c.idle.Back()
	if e == nil {
		return false
	}
	v := c.idle.Remove(e).(*userLog)
	v.elem = nil
	delete(c.open, v.key)
	done := make(chan struct{})
	c.closing[v.key] = done
	c.mu.Unlock()
	if err := c.closeLog(v); err != nil {
		c.log.Error("closing an idle user log", "user", v.key, "err", err)
	}
	c.mu.Lock()
	delete(c.closing, v.key)
	close(done)
	c.signalLocked()
	c.mu.Unlock()
	return true
}

func (c *userCache) signalLocked() {
	close(c.freed)
	c.freed = make(chan struct{})
}

// release gives back a log acquire returned.
func (c *userCache) release(u *userLog) {
	c.mu.Lock()
	u.refs--
	if u.refs > 0 {
		c.mu.Unlock()
		return
	}
	if c.closed && u.err == nil {
		c.mu.Unlock()
		c.closeLog(u)
		return
	}
	if c.open[u.key] != u || u.err != nil {
		c.signalLocked()
		c.mu.Unlock()
		return
	}
	u.elem = c.idle.PushFront(u)
	c.signalLocked()
	// Logs opened beyond max by internal readers close as they free up.
	for len(c.open) > c.max {
		if !c.evictLocked() {
			break
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// closeAll closes every log nobody holds and marks the cache closed: logs
// still held close when released.
func (c *userCache) closeAll() error {
	c.mu.Lock()
	c.closed = true
	var logs []*userLog
	for _, u := range c.open {
		if u.refs == 0 && u.log != nil {
			logs = append(logs, u)
		} else {
			c.forget(u.key) // still held: it may change after the close
		}
	}
	c.open = map[hyperlog.Hash]*userLog{}
	c.idle.Init()
	c.signalLocked()
	c.mu.Unlock()
	var errs []error
	for _, u := range logs {
		errs = append(errs, c.closeLog(u))
	}
	return errors.Join(errs...)
}

func (h *Host) userDir(pub hyperlog.Hash) string {
	return filepath.Join(h.cfg.Dir, "users", pub.String())
}

func (h *Host) logOptions() hyperlog.Options {
	return hyperlog.Options{Sync: h.cfg.Sync, Logger: h.log, Repair: h.cfg.Repair}
}

// acquireUser returns the host's open replica of pub's log, which the
// caller must release with h.users.release. A user without a log gives
// ErrNotFound; with wait, a host whose MaxOpenUserLogs logs are all in use
// gives ErrBusy after a while.
func (h *Host) acquireUser(ctx context.Context, pub hyperlog.Hash, wait bool) (*userLog, error) {
	dir := h.userDir(pub)
	if _, err := os.Stat(filepath.Join(dir, "identity.json")); errors.Is(err, os.ErrNotExist) {
		return nil, refuse(ErrNotFound, "no user log for %s", pub)
	}
	wctx := ctx
	if wait {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, userWait)
		defer cancel()
	}
	u, err := h.users.acquire(wctx, pub, wait, func() (*hyperlog.Log, error) {
		l, err := hyperlog.Open(dir, h.logOptions())
		if err != nil {
			return nil, h.userFault(pub, err)
		}
		return l, nil
	})
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, refuse(ErrBusy, "all %d user log slots are in use: try again", h.cfg.MaxOpenUserLogs)
	}
	return u, err
}

// userFault describes a user log that cannot be read, with what to do.
func (h *Host) userFault(pub hyperlog.Hash, err error) error {
	if outOfFDs(err) {
		return busyIfOutOfFDs(fmt.Errorf("user log %s: %w", pub, err))
	}
	return fmt.Errorf("user log %s: %w; %s", pub, err, remedy(h.userDir(pub), err))
}

// remedy says what an operator can do about a damaged log in dir; a log
// that could not open for want of file descriptors is not damaged.
func remedy(dir string, err error) string {
	if outOfFDs(err) {
		return errOutOfFDsMsg
	}
	s := "restore " + dir + " from a peer that holds the logs"
	if strings.Contains(dir, string(filepath.Separator)+"users"+string(filepath.Separator)) {
		s += " (a user also keeps their own log)"
	}
	var de *hyperlog.DamagedError
	if errors.As(err, &de) {
		s += fmt.Sprintf(", or start with --repair (host.Config.Repair) to cut it back to its %d intact entries, losing the signed entries %d to %d (the damaged files are kept in a damaged-N directory inside it)",
			de.Intact, de.Intact, de.Signed-1)
	}
	return s
}

// userStripes serialises the requests of one user (appends and the
// queueing of their calls), so that a user's calls reach each contract in
// the user's order.
const userStripes = 256

func (h *Host) userLock(pub hyperlog.Hash) *sync.Mutex { return &h.userLocks[pub[0]] }

// verifyUserHead checks, before anything else, that head is signed by user.
func verifyUserHead(user hyperlog.Hash, head hyperlog.SignedHead) error {
	if err := hyperlog.VerifyHead(UserIdentity(user).Key(), head); err != nil {
		return refuse(ErrForbidden, "user %s: head of length %d: %v", user, head.Length, err)
	}
	return nil
}

// submission is a request whose entries are in the user's log and whose
// calls are queued.
type submission struct {
	h      *Host
	marker string // pending marker to remove once every call is served
	reqs   []*request
}

// wait returns the answers once every call is logged. If ctx ends first
// the calls are still served; the marker goes once they are.
func (s *submission) wait(ctx context.Context) ([]*Answer, error) {
	answers := make([]*Answer, len(s.reqs))
	for i, req := range s.reqs {
		select {
		case r := <-req.reply:
			if r.err != nil {
				// The call is in the user's log but not served: the
				// marker stays, so a restart serves it.
				return nil, r.err
			}
			answers[i] = r.answer
		case <-ctx.Done():
			go s.finish(i)
			return nil, ctx.Err()
		}
	}
	s.h.clearPending(s.marker)
	return answers, nil
}

// finish waits, in the background, for the answers from request i on.
func (s *submission) finish(i int) {
	for _, req := range s.reqs[i:] {
		select {
		case r := <-req.reply:
			if r.err != nil {
				return
			}
		case <-s.h.done:
			return
		}
	}
	s.h.clearPending(s.marker)
}

// appendUser appends verified entries to user's log (creating it for a new
// user) and queues their calls. verifyUserHead has checked head. A request
// that finds the process out of file descriptors gets ErrBusy.
func (h *Host) appendUser(ctx context.Context, user hyperlog.Hash, head hyperlog.SignedHead, entries [][]byte, decoded []*UserEntry) (*submission, error) {
	sub, err := h.appendEntries(ctx, user, head, entries, decoded)
	return sub, busyIfOutOfFDs(err)
}

func (h *Host) appendEntries(ctx context.Context, user hyperlog.Hash, head hyperlog.SignedHead, entries [][]byte, decoded []*UserEntry) (*submission, error) {
	calls := false
	for _, ue := range decoded {
		calls = calls || ue.Type != TypeAck
	}
	mu := h.userLock(user)
	mu.Lock()
	if _, err := os.Stat(h.userDir(user)); errors.Is(err, os.ErrNotExist) {
		defer mu.Unlock()
		if err := h.admitQueued(user, decoded); err != nil {
			return nil, err
		}
		// A new user: every entry must hash to the head before the log
		// exists at all.
		if head.Length != uint64(len(entries)) {
			return nil, refuse(ErrConflict, "the host has no log for user %s yet: a head of length %d cannot cover %d entries", user, head.Length, len(entries))
		}
		if err := hyperlog.VerifyLog(UserIdentity(user).Key(), head, entries); err != nil {
			return nil, refuse(ErrForbidden, "user %s: the entries do not match the signed head: %v", user, err)
		}
		sub := &submission{h: h}
		var err error
		if sub.marker, err = h.markPending(user, 0, calls); err != nil {
			return nil, err
		}
		if err := h.createUser(user, head, entries); err != nil {
			h.clearPending(sub.marker)
			return nil, err
		}
		return sub, h.queue(ctx, sub, user, 0, entries, decoded)
	}
	mu.Unlock()
	u, err := h.acquireUser(ctx, user, true)
	if err != nil {
		return nil, err
	}
	defer h.users.release(u)
	mu.Lock()
	defer mu.Unlock()
	if err := h.admitQueued(user, decoded); err != nil {
		return nil, err
	}
	start := u.log.Length()
	if head.Length != start+uint64(len(entries)) {
		return nil, refuse(ErrConflict, "user log has %d entries: a head of length %d cannot cover %d new ones", start, head.Length, len(entries))
	}
	sub := &submission{h: h}
	if sub.marker, err = h.markPending(user, start, calls); err != nil {
		return nil, err
	}
	if err := u.log.AppendSigned(head, entries...); err != nil {
		h.clearPending(sub.marker)
		if errors.Is(err, hyperlog.ErrBadSignature) || errors.Is(err, hyperlog.ErrInvalidProof) || errors.Is(err, hyperlog.ErrMalformed) {
			return nil, refuse(ErrForbidden, "user log: %v", err)
		}
		return nil, fmt.Errorf("user log %s: %w", user, err)
	}
	return sub, h.queue(ctx, sub, user, start, entries, decoded)
}

// queue hands the calls among entries (at index start on in user's log)
// to their contracts.
func (h *Host) queue(ctx context.Context, sub *submission, user hyperlog.Hash, start uint64, entries [][]byte, decoded []*UserEntry) error {
	for i, ue := range decoded {
		if ue.Type == TypeAck {
			continue
		}
		req, err := h.enqueue(ctx, user, start+uint64(i), entries[i], ue)
		if err != nil {
			return err
		}
		sub.reqs = append(sub.reqs, req)
	}
	return nil
}

// createUser builds a new user's log with its first entries aside and
// renames it into place: users/<key>/ appears complete or not at all.
func (h *Host) createUser(pub hyperlog.Hash, head hyperlog.SignedHead, entries [][]byte) error {
	users := filepath.Join(h.cfg.Dir, "users")
	tmp, err := os.MkdirTemp(users, newUserPrefix+pub.String()+"-")
	if err != nil {
		return err
	}
	l, err := hyperlog.CreateReplica(tmp, UserIdentity(pub), hyperlog.Options{Sync: h.cfg.Sync, Logger: h.log})
	if err == nil {
		err = l.AppendSigned(head, entries...)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, hyperlog.ErrBadSignature) || errors.Is(err, hyperlog.ErrInvalidProof) {
			return refuse(ErrForbidden, "user %s: %v", pub, err)
		}
		return fmt.Errorf("user log %s: %w", pub, err)
	}
	if err := os.Rename(tmp, h.userDir(pub)); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(h.userDir(pub)); serr == nil {
			return refuse(ErrConflict, "user %s: another request created the log first", pub)
		}
		return fmt.Errorf("user log %s: %w", pub, err)
	}
	h.noteClosed(pub, uint64(len(entries)))
	if h.cfg.Sync {
		return durable.SyncDir(users)
	}
	return nil
}

// withUser runs fn on pub's open log; internal readers use it (they do not
// wait for a slot).
func (h *Host) withUser(pub hyperlog.Hash, fn func(l *hyperlog.Log) error) error {
	u, err := h.acquireUser(context.Background(), pub, false)
	if err != nil {
		return err
	}
	defer h.users.release(u)
	return fn(u.log)
}

// Pending markers: before a request's calls enter a user's log, an empty
// file pending/<user>-<index> records that the user's entries from index on
// may not be served yet; it goes once they are. A start serves the calls of
// the users that have markers, and so never needs to read every user log.
// A data directory without pending/ (made before markers existed) has
// every user log read once.
const pendingDir = "pending"

func (h *Host) markPending(user hyperlog.Hash, start uint64, calls bool) (string, error) {
	if !calls {
		return "", nil
	}
	name := filepath.Join(h.cfg.Dir, pendingDir, fmt.Sprintf("%s-%d", user, start))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("host: pending marker: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("host: pending marker: %w", err)
	}
	if h.cfg.Sync {
		if err := durable.SyncDir(filepath.Dir(name)); err != nil {
			return "", err
		}
	}
	return name, nil
}

func (h *Host) clearPending(name string) {
	if name == "" {
		return
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.log.Warn("removing a pending marker", "file", name, "err", err)
	}
}

// loadPending reads the markers: for each user, the smallest index from
// which calls may be unserved. ok is false when the directory keeps no
// markers yet.
func (h *Host) loadPending() (map[hyperlog.Hash]uint64, []string, bool, error) {
	dir := filepath.Join(h.cfg.Dir, pendingDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	out := map[hyperlog.Hash]uint64{}
	var names []string
	for _, e := range ents {
		names = append(names, filepath.Join(dir, e.Name()))
		k, idx, ok := strings.Cut(e.Name(), "-")
		pub, err := hyperlog.ParseHash(k)
		n, err2 := strconv.ParseUint(idx, 10, 64)
		if !ok || err != nil || err2 != nil {
			h.log.Warn("ignoring a stray file among the pending markers", "file", e.Name())
			continue
		}
		if cur, seen := out[pub]; !seen || n < cur {
			out[pub] = n
		}
	}
	return out, names, true, nil
}

// cleanUsers removes what an interrupted request or an older host left
// half-made in users/: logs being built aside (never answered) and
// directories without a log (whose data is empty: no entry ever entered
// them). A directory with data but no identity stops the start.
func (h *Host) cleanUsers() error {
	users := filepath.Join(h.cfg.Dir, "users")
	ents, err := os.ReadDir(users)
	if err != nil {
		return err
	}
	for _, e := range ents {
		dir := filepath.Join(users, e.Name())
		if strings.HasPrefix(e.Name(), newUserPrefix) {
			h.log.Warn("removed a user log whose creation was interrupted (its request was never answered)", "dir", dir)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			continue
		}
		if _, err := hyperlog.ParseHash(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "identity.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, "data")); err == nil && st.Size() > 0 {
			return fmt.Errorf("user log %s has entries but no identity.json; %s", dir, remedy(dir, nil))
		}
		h.log.Warn("removed a half-created user log directory (no identity, no entries)", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}
