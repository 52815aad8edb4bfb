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

// Past MaxConnections a new connection is not served (its TLS handshake waits in the backlog)
// until an open one closes.
func TestServingBoundsConnections(t *testing.T) {
	cert := selfSignedServing(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	limits := DefaultServingLimits()
	limits.MaxConnections = 2
	s := NewServer("127.0.0.1", port, t.TempDir(), limits, func(c *tls.Config) {
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	defer func() { cancel(); <-done }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dial := func(timeout time.Duration) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: timeout}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test server's throwaway certificate
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
	var open []*tls.Conn
	deadline := time.Now().Add(10 * time.Second)
	for len(open) < 2 {
		c, err := dial(time.Second)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		open = append(open, c)
	}
	if c, err := dial(time.Second); err == nil {
		c.Close()
		t.Fatalf("a third connection was served with MaxConnections 2")
	}
	open[0].Close()
	c, err := dial(5 * time.Second)
	if err != nil {
		t.Fatalf("after one of two connections closed, a new one is still not served: %v", err)
	}
	c.Close()
	open[1].Close()
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
