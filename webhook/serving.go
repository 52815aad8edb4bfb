package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// ServingLimits bound what one caller can hold of the webhook server.
type ServingLimits struct {
	// ReadTimeout is the time a request may take to arrive, headers and body: a client that sends
	// it slower is cut off.
	ReadTimeout time.Duration
	// MaxInFlight is the number of admission requests handled at once; more are answered 429
	// at once (with Retry-After) instead of queueing.
	MaxInFlight int
	// MaxBodyBytesInFlight is the budget of request body bytes handled at once: a request whose
	// Content-Length does not fit beside the bodies in flight waits for room, up to half the
	// timeout the API server announces (at most 5 s), and is answered 429 with Retry-After before
	// its body is read if none is made; otherwise its bytes are reserved as they arrive and held until it is
	// answered, and one that stops fitting while it arrives is answered 429 then. A request
	// costs several times its body in decoding and patch generation, so this bounds the heap that
	// admission can take. 0: no budget.
	MaxBodyBytesInFlight int64
	// MaxConnections bounds the open connections. A connection arriving at the bound closes one
	// that does no work (idle between requests, or silent for 2 s since it was opened, before or
	// after its TLS handshake); when all are handling requests, it waits until one closes.
	// 0: no bound.
	MaxConnections int
	// ShutdownDelay is how long the server keeps serving after it is told to stop (SIGTERM), while
	// the pod's endpoint is removed from the Service; responses then close their connections so
	// that the API server opens new ones to the remaining replicas.
	ShutdownDelay time.Duration
}

// DefaultServingLimits are the serve command's defaults.
func DefaultServingLimits() ServingLimits {
	return ServingLimits{ReadTimeout: 10 * time.Second, MaxInFlight: 200, ShutdownDelay: 10 * time.Second,
		MaxBodyBytesInFlight: 16 << 20, MaxConnections: 256}
}

// Server serves the admission webhooks over TLS with the serving limits. It implements
// controller-runtime's webhook.Server: handlers registered on it are instrumented with
// controller-runtime's webhook metrics, as with its own server, whose http.Server has no read
// deadline and no in-flight limit.
type Server struct {
	Host    string
	Port    int
	CertDir string
	TLSOpts []func(*tls.Config)
	Limits  ServingLimits
	// ClientCAName is a file in CertDir with the CA of the API server's client certificate: set,
	// every connection must present a certificate it signed whose common name or a DNS name is
	// among ClientAllowedSubjects ("*": any). The file is reloaded when it changes, checked every
	// ClientCAReload (DefaultClientCAReload when zero).
	ClientCAName          string
	ClientAllowedSubjects []string
	ClientCAReload        time.Duration

	// inner registers (and instruments) the handlers on mux; it is never started.
	inner    crwebhook.Server
	mux      *http.ServeMux
	slots    chan struct{}
	budget   *byteBudget
	draining atomic.Bool

	mu      sync.Mutex
	started bool

	// dialMu serializes the readiness dials; dialedAt and dialErr are the last one's time and
	// answer, reused for readyDialEvery.
	dialMu   sync.Mutex
	dialedAt time.Time
	dialErr  error
}

// readyDialEvery is the most often readiness dials the webhook port: however often /readyz is
// asked (the health port is open to the kubelet and, with the NetworkPolicy off, to any pod), it
// costs at most one TLS handshake and one connection slot per interval.
const readyDialEvery = 5 * time.Second

// NewServer builds a webhook server; Register handlers on it before the manager starts it.
func NewServer(host string, port int, certDir string, limits ServingLimits, tlsOpts ...func(*tls.Config)) *Server {
	mux := http.NewServeMux()
	return &Server{
		Host: host, Port: port, CertDir: certDir, TLSOpts: tlsOpts, Limits: limits,
		mux:   mux,
		inner: crwebhook.NewServer(crwebhook.Options{Port: port, WebhookMux: mux}),
	}
}

var _ crwebhook.Server = (*Server)(nil)

// NeedLeaderElection is false: every replica serves admission.
func (*Server) NeedLeaderElection() bool { return false }

// Register serves hook at path, behind the AdmissionReview envelope check.
func (s *Server) Register(path string, hook http.Handler) {
	s.inner.Register(path, reviewGuard(hook))
}

// WebhookMux is the mux the handlers are registered on.
func (s *Server) WebhookMux() *http.ServeMux { return s.mux }

// Drain starts the shutdown delay: readiness fails, and every response closes its connection, so
// no connection stays idle for the final shutdown to cut while a request is being sent on it.
func (s *Server) Drain() { s.draining.Store(true) }

// DrainingChecker fails readiness once Drain was called.
func (s *Server) DrainingChecker() healthz.Checker {
	return func(*http.Request) error {
		if s.draining.Load() {
			return errors.New("shutting down: draining admission requests")
		}
		return nil
	}
}

// StartedChecker is healthy once the server accepts TLS connections.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		s.dialMu.Lock()
		defer s.dialMu.Unlock()
		if !s.dialedAt.IsZero() && time.Since(s.dialedAt) < readyDialEvery {
			return s.dialErr
		}
		s.dialErr = s.dial()
		s.dialedAt = time.Now()
		return s.dialErr
	}
}

func (s *Server) dial() error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a liveness dial to ourselves
	if err != nil {
		return fmt.Errorf("webhook server is not reachable: %w", err)
	}
	return conn.Close()
}

func (s *Server) addr() string {
	host := s.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.Port))
}

// Start serves until ctx ends, then finishes the requests in flight (at most a minute).
func (s *Server) Start(ctx context.Context) error {
	logger := logf.FromContext(ctx).WithName("webhook-server")
	cfg := &tls.Config{}
	for _, op := range s.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		cw, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
		if err != nil {
			return err
		}
		cfg.GetCertificate = cw.GetCertificate
		go func() {
			if err := cw.Start(ctx); err != nil {
				logger.Error(err, "serving certificate watcher")
			}
		}()
	}
	if s.ClientCAName != "" {
		ca, err := newClientAuth(cfg, filepath.Join(s.CertDir, s.ClientCAName), s.ClientAllowedSubjects, s.ClientCAReload, logger.WithName("client-auth"))
		if err != nil {
			return err
		}
		go ca.watch(ctx)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		return err
	}
	var limit *connLimit
	if s.Limits.MaxConnections > 0 {
		limit = newConnLimit(ln, s.Limits.MaxConnections)
		ln = limit
	}
	ln = tls.NewListener(ln, cfg)
	srv := s.httpServer(ctx)
	if limit != nil {
		srv.ConnState = limit.track
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Error(err, "shutting down the webhook server")
		}
	}()
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	logger.Info("serving webhooks", "address", ln.Addr().String(), "readTimeout", s.Limits.ReadTimeout.String(),
		"maxInFlight", s.Limits.MaxInFlight, "maxBodyBytesInFlight", s.Limits.MaxBodyBytesInFlight, "maxConnections", s.Limits.MaxConnections)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

func (s *Server) httpServer(ctx context.Context) *http.Server {
	read := s.Limits.ReadTimeout
	if read <= 0 {
		read = DefaultServingLimits().ReadTimeout
	}
	if s.Limits.MaxInFlight > 0 {
		s.slots = make(chan struct{}, s.Limits.MaxInFlight)
	}
	if s.Limits.MaxBodyBytesInFlight > 0 {
		s.budget = &byteBudget{max: s.Limits.MaxBodyBytesInFlight}
	}
	return &http.Server{
		BaseContext: func(net.Listener) context.Context { return ctx },
		Handler:     s.limit(s.mux),
		// The whole request, headers and body, must arrive within ReadTimeout: one byte every few
		// seconds does not hold a connection (and an in-flight slot) open.
		ReadHeaderTimeout: read,
		ReadTimeout:       read,
		// The API server waits at most 30 s (timeoutSeconds' maximum) for an answer.
		WriteTimeout:   read + 30*time.Second,
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
}

// limit refuses, before the body is read, a request whose Content-Length is over MaxReviewBytes
// (413), and answers 429 when MaxInFlight requests are being handled (at once) or the request's
// body does not fit in the body budget (after waiting for room); it closes connections while draining.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		if r.ContentLength > MaxReviewBytes {
			// Not read: the connection is closed after the answer.
			w.Header().Set("Connection", "close")
			refuseReview(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body: expected at most %d bytes (Content-Length), found %d", MaxReviewBytes, r.ContentLength))
			return
		}
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			default:
				overloaded(w, fmt.Sprintf("%d admission requests in flight, the limit (--max-in-flight); "+
					"retry, or add replicas or raise --max-in-flight (chart value serving.maxInFlight)", s.Limits.MaxInFlight))
				return
			}
		}
		if s.budget != nil {
			// A body that fits now reserves its bytes as they arrive, so a caller sending slowly
			// holds only what it has sent. One that had to wait for room is granted its whole
			// Content-Length, and must then send it within grantedBodyWithin: a silent caller holds
			// the grant that long, not the read timeout.
			n := min(max(r.ContentLength, 0), s.budget.max)
			granted, ok := s.budget.admit(r.Context(), n, budgetWait(r))
			if !ok {
				overloaded(w, s.budget.refusal(n))
				return
			}
			if granted > 0 {
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(grantedBodyWithin))
			}
			body := &budgetedBody{ReadCloser: r.Body, budget: s.budget, granted: granted}
			r.Body = body
			defer body.release()
		}
		next.ServeHTTP(w, r)
	})
}

// grantedBodyWithin is how long a request granted room in the body budget after waiting has to send
// its body: the API server sends a review of a few MiB in milliseconds.
const grantedBodyWithin = 2 * time.Second

// maxBudgetWait bounds how long a request waits for room in the body budget, whatever timeout it
// announces: a waiting request holds an in-flight slot and its connection, not its body.
const maxBudgetWait = 5 * time.Second

// budgetWait is how long a request may wait for room in the body budget: half the timeout the API
// server gives the webhook call (its `timeout` query parameter, timeoutSeconds), so that the other
// half is left for the review; no wait when the caller announces none.
func budgetWait(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || d <= 0 {
		return 0
	}
	return min(d/2, maxBudgetWait)
}

// byteBudget is a count of bytes that reservations may not take past max.
type byteBudget struct {
	mu   sync.Mutex
	max  int64
	used int64
	// freed is closed, and replaced, each time bytes are released: requests waiting for room wake
	// and look again.
	freed chan struct{}
}

func (b *byteBudget) fits(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used+n <= b.max
}

// admit reports whether a body of n bytes may be read. One that fits now reserves its bytes as
// they arrive (granted 0). One that does not waits up to wait for bodies in flight to be
// answered, and is then granted its n bytes at once, so that of the waiters woken by a release
// only those the room holds go on (in no particular order; under a burst of similar reviews they
// take turns), instead of all starting to read into the same room, or each being answered 429
// and sent again by the API server a second later.
func (b *byteBudget) admit(ctx context.Context, n int64, wait time.Duration) (granted int64, ok bool) {
	b.mu.Lock()
	fits := b.used+n <= b.max
	b.mu.Unlock()
	if fits {
		return 0, true
	}
	if wait <= 0 {
		return 0, false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			budgetWaits.WithLabelValues("admitted").Inc()
			return n, true
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-t.C:
			budgetWaits.WithLabelValues("overload").Inc()
			return 0, false
		case <-ctx.Done():
			budgetWaits.WithLabelValues("overload").Inc()
			return 0, false
		}
	}
}

func (b *byteBudget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.freed != nil && n > 0 {
		close(b.freed)
		b.freed = nil
	}
	b.mu.Unlock()
}

func (b *byteBudget) refusal(n int64) string {
	return fmt.Sprintf("request bodies in flight would pass the budget of %d bytes with this one's %d (--max-body-bytes-in-flight); "+
		"retry, or add replicas or raise --max-body-bytes-in-flight with the memory limit (chart value serving.maxBodyBytesInFlight)", b.max, n)
}

// overBudget is the error a budgeted body's Read returns once the bytes it has read do not fit in
// the budget: the request is answered 429.
type overBudget struct{ why string }

func (e *overBudget) Error() string { return e.why }

// budgetedBody reserves in the budget each byte read from a request body, and holds them until
// release (the request is answered: its decoded objects live until then). A Read may pass the
// budget by what one Read returns (a TLS record, 16 KiB).
type budgetedBody struct {
	io.ReadCloser
	budget *byteBudget
	// granted bytes were reserved before the body was read (admit); held counts those read.
	granted, held int64
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if more := min(int64(n), b.held+int64(n)-b.granted); more > 0 && !b.budget.reserve(more) {
			return 0, &overBudget{why: b.budget.refusal(b.held + int64(n))}
		}
		b.held += int64(n)
	}
	return n, err
}

func (b *budgetedBody) release() { b.budget.release(max(b.held, b.granted)) }

// overloaded counts and writes the overload answer: 429 with Retry-After and a Status the API
// server quotes in its "failed calling webhook" error (failurePolicy decides what happens to the
// request).
func overloaded(w http.ResponseWriter, why string) {
	rejected.WithLabelValues("overload").Inc()
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     http.StatusTooManyRequests,
		Reason:   metav1.StatusReasonTooManyRequests,
		Message:  "aigw-mtls-webhook is overloaded: " + why,
		Details:  &metav1.StatusDetails{RetryAfterSeconds: 1},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(st)
}
