package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1"}}`

// servingHandler is the server's handler chain (limits, envelope check) around hook.
func servingHandler(limits ServingLimits, hook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathMutatePod, reviewGuard(hook))
	s := &Server{Limits: limits, mux: mux}
	return s.httpServer(context.Background()).Handler
}

var answered = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: "u1", Allowed: true}})
})

// countingReader counts the bytes read from it.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// A body announced over the limit is refused with 413 and an AdmissionReview before a byte of it
// is read: a caller cannot make the server buffer 7 MiB to be told no.
func TestServingRefusesOversizedBodyUnread(t *testing.T) {
	h := servingHandler(DefaultServingLimits(), answered)
	body := &countingReader{}
	req := httptest.NewRequest(http.MethodPost, PathMutatePod, io.NopCloser(body))
	req.ContentLength = 7<<20 + 1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r admissionv1.AdmissionReview
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	if rec.Code != http.StatusRequestEntityTooLarge || r.Response == nil || r.Response.Allowed || r.Response.Result == nil ||
		!strings.Contains(r.Response.Result.Message, "expected at most 7340032 bytes") {
		t.Errorf("Content-Length over the limit: want 413 and a refusal naming the limit, got %d %s", rec.Code, rec.Body)
	}
	if n := body.n.Load(); n != 0 {
		t.Errorf("%d bytes of the body were read before refusing it", n)
	}
}

// Bodies in flight share a byte budget: a request whose Content-Length does not fit beside those
// being handled is answered 429 with Retry-After at once; once they are answered it fits again.
func TestServingBodyBudget(t *testing.T) {
	limits := DefaultServingLimits()
	limits.MaxBodyBytesInFlight = 1 << 20
	entered, release := make(chan struct{}), make(chan struct{})
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		answered(w, r)
	})
	h := servingHandler(limits, hook)
	post := func(query string, size int) *httptest.ResponseRecorder {
		body := testReview + strings.Repeat(" ", size-len(testReview))
		req := httptest.NewRequest(http.MethodPost, PathMutatePod+query, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	held := make(chan *httptest.ResponseRecorder)
	go func() { held <- post("?hold=1", 800<<10) }()
	<-entered

	rec := post("", 300<<10)
	var st metav1.Status
	_ = json.Unmarshal(rec.Body.Bytes(), &st)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" || st.Reason != metav1.StatusReasonTooManyRequests ||
		!strings.Contains(st.Message, "budget of 1048576 bytes") || !strings.Contains(st.Message, "--max-body-bytes-in-flight") {
		t.Errorf("300 KiB beside 800 KiB in flight, budget 1 MiB: want 429, Retry-After and a Status naming the budget, got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := post("", 200<<10); rec.Code != http.StatusOK {
		t.Errorf("200 KiB beside 800 KiB in flight, budget 1 MiB: want 200, got %d %s", rec.Code, rec.Body)
	}
	close(release)
	if rec := <-held; rec.Code != http.StatusOK {
		t.Errorf("held request: %d %s", rec.Code, rec.Body)
	}
	if rec := post("", 300<<10); rec.Code != http.StatusOK {
		t.Errorf("300 KiB once the budget is free: want 200, got %d %s", rec.Code, rec.Body)
	}
}

// Under a burst, a review that does not fit in the body budget waits for room, up to half the
// timeout the API server announces (?timeout=), and is answered as soon as a body in flight is;
// past that wait, or when no timeout is announced, it is answered 429.
func TestServingBodyBudgetWaitsForRoom(t *testing.T) {
	limits := DefaultServingLimits()
	limits.MaxBodyBytesInFlight = 1 << 20
	entered, release := make(chan struct{}), make(chan struct{})
	h := servingHandler(limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		answered(w, r)
	}))
	post := func(query string, size int) *httptest.ResponseRecorder {
		body := testReview + strings.Repeat(" ", size-len(testReview))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathMutatePod+query, strings.NewReader(body)))
		return rec
	}
	held := make(chan *httptest.ResponseRecorder)
	go func() { held <- post("?hold=1", 800<<10) }()
	<-entered

	start := time.Now()
	if rec := post("?timeout=400ms", 300<<10); rec.Code != http.StatusTooManyRequests {
		t.Errorf("300 KiB beside 800 KiB held past its wait (timeout 400ms): want 429, got %d %s", rec.Code, rec.Body)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("answered 429 after %s: want a wait of about half the announced 400ms first", waited)
	}

	waiting := make(chan *httptest.ResponseRecorder)
	go func() { waiting <- post("?timeout=20s", 300<<10) }()
	select {
	case rec := <-waiting:
		t.Fatalf("answered while the budget was full: %d %s", rec.Code, rec.Body)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if rec := <-held; rec.Code != http.StatusOK {
		t.Errorf("held request: %d %s", rec.Code, rec.Body)
	}
	if rec := <-waiting; rec.Code != http.StatusOK {
		t.Errorf("300 KiB waiting for room (timeout 20s) once the held request is answered: want 200, got %d %s", rec.Code, rec.Body)
	}
}

// A caller sending its body slowly holds only the bytes it has sent, not its Content-Length:
// announcing 900 KiB and trickling 10 KiB leaves room for others in a 1 MiB budget. When its bytes
// stop fitting while they arrive, it is answered 429.
func TestServingBodyBudgetCountsBytesAsTheyArrive(t *testing.T) {
	limits := DefaultServingLimits()
	limits.MaxBodyBytesInFlight = 1 << 20
	entered, release := make(chan struct{}), make(chan struct{})
	h := servingHandler(limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		answered(w, r)
	}))
	post := func(query string, size int) *httptest.ResponseRecorder {
		body := testReview + strings.Repeat(" ", size-len(testReview))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathMutatePod+query, strings.NewReader(body)))
		return rec
	}

	pr, pw := io.Pipe()
	slow := httptest.NewRequest(http.MethodPost, PathMutatePod, pr)
	slow.ContentLength = 900 << 10
	slowRec := httptest.NewRecorder()
	slowDone := make(chan struct{})
	go func() { defer close(slowDone); h.ServeHTTP(slowRec, slow) }()
	if _, err := pw.Write([]byte(testReview + strings.Repeat(" ", 10<<10))); err != nil { // read by the server
		t.Fatal(err)
	}
	if rec := post("", 500<<10); rec.Code != http.StatusOK {
		t.Errorf("500 KiB beside a caller that announced 900 KiB and sent 10 KiB, budget 1 MiB: want 200, got %d %s", rec.Code, rec.Body)
	}

	// 600 KiB held by another request: the slow caller's remaining bytes no longer fit.
	held := make(chan *httptest.ResponseRecorder)
	go func() { held <- post("?hold=1", 600<<10) }()
	<-entered
	go func() {
		_, _ = pw.Write([]byte(strings.Repeat(" ", 890<<10-len(testReview))))
		_ = pw.Close()
	}()
	<-slowDone
	var st metav1.Status
	_ = json.Unmarshal(slowRec.Body.Bytes(), &st)
	if slowRec.Code != http.StatusTooManyRequests || slowRec.Header().Get("Retry-After") != "1" || !strings.Contains(st.Message, "budget of 1048576 bytes") {
		t.Errorf("a body that stops fitting while it arrives: want 429 naming the budget, got %d %s", slowRec.Code, slowRec.Body)
	}
	close(release)
	if rec := <-held; rec.Code != http.StatusOK {
		t.Errorf("held request: %d %s", rec.Code, rec.Body)
	}
	if rec := post("", 1000<<10); rec.Code != http.StatusOK {
		t.Errorf("1000 KiB once every request is answered (nothing left reserved): want 200, got %d %s", rec.Code, rec.Body)
	}
}

// startLimited starts a Server on a free port with MaxConnections max, serving hook at
// PathMutatePod; it returns the address.
func startLimited(t *testing.T, max int, hook http.Handler) string {
	t.Helper()
	limits := DefaultServingLimits()
	limits.MaxConnections = max
	return startServing(t, limits, hook)
}

// startServing starts a Server on a free port with limits, serving hook at PathMutatePod; it
// returns the address.
func startServing(t *testing.T, limits ServingLimits, hook http.Handler) string {
	t.Helper()
	cert := selfSignedServing(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := NewServer("127.0.0.1", port, t.TempDir(), limits, func(c *tls.Config) {
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	})
	s.Register(PathMutatePod, hook)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// review posts testReview to addr on a connection of its own (kept alive after the answer until
// the returned client is closed) within timeout.
func review(addr, query string, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test server's throwaway certificate
	resp, err := c.Post("https://"+addr+PathMutatePod+query, "application/json", strings.NewReader(testReview))
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return c, nil
}

// Past MaxConnections, connections handling requests are never cut: a new connection waits
// (its TLS handshake is not answered) until one of them closes.
func TestServingBoundsBusyConnections(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	addr := startLimited(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		answered(w, r)
	}))
	held := make(chan error, 2)
	for range 2 {
		go func() {
			c, err := review(addr, "?hold=1", 30*time.Second)
			c.CloseIdleConnections()
			held <- err
		}()
		<-entered
	}
	// Past the grace given to silent connections: busy ones are still not closable.
	time.Sleep(newConnGrace + 500*time.Millisecond)
	waiting, err := review(addr, "", time.Second)
	if err == nil {
		waiting.CloseIdleConnections()
		t.Fatal("a third connection was served while two requests held MaxConnections 2")
	}
	// Its transport completes the dial in the background: close what it keeps at the end.
	defer waiting.CloseIdleConnections()
	close(release)
	for range 2 {
		if err := <-held; err != nil {
			t.Errorf("a request in flight when the bound was reached: %v (it must not be cut)", err)
		}
	}
	c, err := review(addr, "", 5*time.Second)
	if err != nil {
		t.Fatalf("once the busy connections closed, a new one is still not served: %v", err)
	}
	c.CloseIdleConnections()
}

// Connections that do no work do not keep the API server out: at the bound, a new connection
// closes one that is silent since it was opened (no TLS handshake) past the grace, or one idle
// between requests, instead of waiting for the read or idle timeout (10 s, 90 s).
func TestServingClosesConnectionsThatDoNoWork(t *testing.T) {
	addr := startLimited(t, 2, answered)
	t.Run("silent", func(t *testing.T) {
		var silent []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			silent = append(silent, c)
		}
		time.Sleep(newConnGrace + 500*time.Millisecond)
		c, err := review(addr, "", 5*time.Second)
		if err != nil {
			t.Fatalf("two silent connections held the bound of 2: %v", err)
		}
		c.CloseIdleConnections()
		closed := 0
		for _, c := range silent {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed++
			}
		}
		if closed == 0 {
			t.Error("no silent connection was closed, yet a new one was served past the bound")
		}
	})
	t.Run("idle", func(t *testing.T) {
		var idle []*http.Client
		for range 2 {
			c, err := review(addr, "", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, c)
		}
		c, err := review(addr, "", 5*time.Second)
		if err != nil {
			t.Fatalf("two idle keep-alive connections held the bound of 2: %v", err)
		}
		c.CloseIdleConnections()
		for _, c := range idle {
			c.CloseIdleConnections()
		}
	})
}

func selfSignedServing(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// However often readiness is asked, it dials the webhook port at most once per readyDialEvery: a
// flood of /readyz does not turn into TLS handshakes and connection slots on the webhook port.
func TestReadinessDialsBounded(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSignedServing(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	s := NewServer("127.0.0.1", ln.Addr().(*net.TCPAddr).Port, "", DefaultServingLimits())
	s.started = true
	check := s.StartedChecker()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := check(nil); err != nil {
				t.Errorf("readiness: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("100 readiness checks dialed the webhook port %d times, want 1", n)
	}
}

// Closing the listener (shutdown) releases an Accept waiting for a slot, so the server's accept
// loop ends even when every connection is busy.
func TestConnLimitCloseReleasesWaitingAccept(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimit(raw, 1)
	for range 2 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	busy, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l.track(busy, http.StateActive)
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept() // the second connection: waits, the only slot is busy
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Accept returned (%v) while the only slot was busy", err)
	case <-time.After(200 * time.Millisecond):
	}
	_ = l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after the listener was closed")
	}
}

// At the bound, a silent new connection is closed before an idle one: the idle one has served the
// API server and likely carries its next request.
func TestConnLimitClosesSilentBeforeIdle(t *testing.T) {
	l := newConnLimit(nil, 2)
	old := time.Now().Add(-time.Minute)
	idle := &limitedConn{limit: l, state: http.StateIdle, since: old.Add(-time.Minute)}
	silent := &limitedConn{limit: l, state: http.StateNew, since: old}
	fresh := &limitedConn{limit: l, state: http.StateNew, since: time.Now()}
	busy := &limitedConn{limit: l, state: http.StateActive, since: old.Add(-time.Hour)}
	l.conns = map[*limitedConn]struct{}{idle: {}, silent: {}, fresh: {}, busy: {}}
	if v := l.victim(time.Now()); v != silent {
		t.Errorf("victim: %+v, want the silent connection", v)
	}
	delete(l.conns, silent)
	if v := l.victim(time.Now()); v != idle {
		t.Errorf("victim without a silent one: %+v, want the idle connection", v)
	}
	delete(l.conns, idle)
	if v := l.victim(time.Now()); v != nil {
		t.Errorf("victim among a busy and a fresh connection: %+v, want none", v)
	}
}

// A caller granted room in the body budget after waiting must send its body within
// grantedBodyWithin: one that announced 900 KiB and stays silent holds the grant about 2 s, not
// the 10 s read timeout, so a review waiting behind it is still answered.
func TestServingBodyBudgetGrantToASilentCallerExpires(t *testing.T) {
	limits := DefaultServingLimits()
	limits.MaxBodyBytesInFlight = 1 << 20
	entered, release := make(chan struct{}), make(chan struct{})
	addr := startServing(t, limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		answered(w, r)
	}))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test server's throwaway certificate
	post := func(query string, size int) (int, error) {
		body := testReview + strings.Repeat(" ", size-len(testReview))
		resp, err := client.Post("https://"+addr+PathMutatePod+query, "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	held := make(chan error, 1)
	go func() { _, err := post("?hold=1", 800<<10); held <- err }()
	<-entered

	silent, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // as above
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if _, err := fmt.Fprintf(silent, "POST %s?timeout=20s HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", PathMutatePod, 900<<10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the silent caller waits for room
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the silent caller is granted its 900 KiB
	code, err := post("?timeout=20s", 300<<10)
	if err != nil || code != http.StatusOK {
		t.Errorf("300 KiB behind a silent caller granted 900 KiB of a 1 MiB budget: want 200 once its grant expires, got %d %v", code, err)
	}
}
