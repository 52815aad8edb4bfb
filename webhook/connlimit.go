package webhook

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// newConnGrace is how long a new connection may take to complete its TLS handshake and send its
// first request before a connection arriving at the bound may close it: the API server does both
// within milliseconds, while a caller that opens connections and sends nothing would otherwise
// hold a slot until the read timeout.
const newConnGrace = 2 * time.Second

// connLimit bounds the open connections of a listener to max. A connection arriving at the bound
// closes one that holds a slot without doing work (new and silent past newConnGrace, the oldest
// first, else idle between requests, the longest idle first); when every connection is handling a request, it waits
// until one closes. Connections report their state through track (http.Server.ConnState).
type connLimit struct {
	net.Listener
	max int

	mu     sync.Mutex
	freed  *sync.Cond
	conns  map[*limitedConn]struct{}
	closed bool
}

func newConnLimit(l net.Listener, max int) *connLimit {
	c := &connLimit{Listener: l, max: max, conns: map[*limitedConn]struct{}{}}
	c.freed = sync.NewCond(&c.mu)
	return c
}

// limitedConn is a connection holding a slot until it is closed.
type limitedConn struct {
	net.Conn
	limit *connLimit
	once  sync.Once
	// state and since are guarded by limit.mu.
	state http.ConnState
	since time.Time
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.limit.mu.Lock()
		delete(c.limit.conns, c)
		c.limit.freed.Broadcast()
		c.limit.mu.Unlock()
	})
	return c.Conn.Close()
}

func (l *connLimit) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	for len(l.conns) >= l.max && !l.closed {
		if v := l.victim(time.Now()); v != nil {
			delete(l.conns, v)
			// Closed outside the lock: its Close takes it again.
			l.mu.Unlock()
			_ = v.Close()
			l.mu.Lock()
			continue
		}
		l.waitFreed()
	}
	if l.closed { // shutting down while this connection waited for a slot
		l.mu.Unlock()
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	c := &limitedConn{Conn: conn, limit: l, state: http.StateNew, since: time.Now()}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// Close stops accepting: an Accept waiting for a slot returns at once.
func (l *connLimit) Close() error {
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// waitFreed waits (l.mu held) until a connection closes or changes state, or until newConnGrace
// has passed, when a silent new connection may have become closable.
func (l *connLimit) waitFreed() {
	t := time.AfterFunc(newConnGrace, func() {
		l.mu.Lock()
		l.freed.Broadcast()
		l.mu.Unlock()
	})
	l.freed.Wait()
	t.Stop()
}

// victim is the connection to close for a new one (l.mu held): the oldest new one silent past
// newConnGrace, else the longest idle one, else nil.
func (l *connLimit) victim(now time.Time) *limitedConn {
	var idle, silent *limitedConn
	for c := range l.conns {
		switch {
		case c.state == http.StateIdle && (idle == nil || c.since.Before(idle.since)):
			idle = c
		case c.state == http.StateNew && now.Sub(c.since) >= newConnGrace && (silent == nil || c.since.Before(silent.since)):
			silent = c
		}
	}
	// A silent connection first: an idle one has served the API server already and is likely to
	// carry its next request.
	if silent != nil {
		return silent
	}
	return idle
}

// track records a connection's state as http.Server reports it.
func (l *connLimit) track(conn net.Conn, state http.ConnState) {
	if u, ok := conn.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		conn = u.NetConn()
	}
	c, ok := conn.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.state == http.StateNew && state == http.StateNew {
		return // the Accept time stands
	}
	c.state, c.since = state, time.Now()
	l.freed.Broadcast()
}
