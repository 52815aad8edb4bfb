// Package probe makes the TLS handshake nginx makes with each aigw endpoint a Policy serves, and
// judges what aigw serves: the certificate (with the rules nginx's OpenSSL verification follows),
// whether it is the one in the aigw server TLS Secret (a process that has not reloaded serves the
// old one), and whether aigw asks for a client certificate from the CA that issued NIC's.
//
// The probe never holds a private key: it answers aigw's CertificateRequest with an empty
// certificate, so it cannot complete the mutual authentication NIC makes. What it proves is what
// aigw serves and what it asks for; not that aigw accepts NIC's certificate once presented.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Bounds of a probe, documented in docs/security.md.
const (
	DefaultDialTimeout   = 2 * time.Second
	DefaultMaxEndpoints  = 16 // per Policy and Service port
	DefaultMaxTargets    = 64 // Policy and Service port pairs per run, a quarter of them per namespace
	DefaultMaxConcurrent = 4  // handshakes in flight
	maxServedCerts       = certs.MaxBundleCerts
	maxAcceptableCAs     = 64 // CA names of a CertificateRequest judged
)

// Target is one aigw Service port a Policy serves, with what nginx does in the handshake.
type Target struct {
	Kind      string   // Policy, or BackendTLSPolicy (NGINX Gateway Fabric)
	Policy    string   // Kind/namespace/name: the object of the findings
	Service   string   // Service/namespace/name
	Port      int32    // the Service port the upstream names
	Endpoints []string // ready endpoints, host:port, at most MaxEndpoints
	Skipped   int      // ready endpoints past MaxEndpoints: not probed
	// NoEndpoint, when set, says why the Service port has no ready endpoint.
	NoEndpoint string
	// CutOff: the run's context ended before the target was resolved or probed; it has no
	// finding (not probed this time), see Result.CutOff.
	CutOff bool

	SNI        string // sent when nginx sends one (proxy_ssl_server_name on)
	SSLName    string // the name nginx checks the served certificate against; "" when it does not
	MinVersion uint16 // the Policy's protocols
	MaxVersion uint16

	Trusted     []*x509.Certificate // trustedCertSecret's ca.crt; nil: the chain is not judged
	TrustedName string
	Depth       int                 // proxy_ssl_verify_depth; < 0: not judged
	Secret      []*x509.Certificate // tls.crt of the aigw server TLS Secret; nil: not compared
	SecretName  string              // Secret namespace/name
	Client      []*x509.Certificate // tls.crt of NIC's client certificate (tlsSecret); nil: not compared
	ClientName  string
}

// Options bound a probe run.
type Options struct {
	DialTimeout   time.Duration
	MaxConcurrent int
	Now           time.Time
}

func (o Options) defaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

// Result is the outcome at one endpoint (or, with Endpoint empty, of a target without any).
type Result struct {
	Target   *Target
	Endpoint string
	Findings rules.Findings
	Summary  string            // what holds, for a healthy endpoint
	Served   *x509.Certificate // the leaf the endpoint served, if any
	// CutOff: not probed this time, the run's context ended first (the cycle was cut off). It
	// carries no finding and says nothing about the endpoint.
	CutOff bool
}

// OK reports whether the endpoint passed every check (warnings allowed).
func (r Result) OK() bool { return len(r.Findings.Errors()) == 0 }

// Run probes every endpoint of targets, at most o.MaxConcurrent at once, each handshake bounded by
// o.DialTimeout. Results come back in the order of targets and endpoints.
func Run(ctx context.Context, targets []Target, o Options) []Result {
	o = o.defaults()
	type job struct {
		t        *Target
		endpoint string
		out      *Result
	}
	var results []Result
	var jobs []job
	for i := range targets {
		t := &targets[i]
		if t.CutOff {
			results = append(results, Result{Target: t, CutOff: true})
			continue
		}
		if len(t.Endpoints) == 0 {
			results = append(results, Result{Target: t, Findings: noEndpoint(t)})
			continue
		}
		for _, e := range t.Endpoints {
			results = append(results, Result{Target: t, Endpoint: e})
		}
	}
	for i := range results {
		if results[i].Endpoint != "" {
			jobs = append(jobs, job{results[i].Target, results[i].Endpoint, &results[i]})
		}
	}
	sem := make(chan struct{}, o.MaxConcurrent)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			j.out.CutOff = true
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ob := handshake(ctx, j.endpoint, j.t, o.DialTimeout)
			if ctx.Err() != nil && (ob.dialErr != nil || ob.tlsErr != nil) {
				j.out.CutOff = true // the run ended, not the endpoint's timeout
				return
			}
			*j.out = judge(j.t, j.endpoint, ob, o.Now)
		})
	}
	wg.Wait()
	return results
}

func noEndpoint(t *Target) rules.Findings {
	return rules.Findings{rules.ProbeNoReadyEndpoint.New(rules.Finding{Object: t.Policy, Field: t.Service + " port " + itoa(t.Port),
		Expected: "a ready endpoint behind the aigw Service's port", Found: t.NoEndpoint})}
}

// observation is what one handshake showed.
type observation struct {
	dialErr    error
	tlsErr     error
	chain      []*x509.Certificate
	parseErr   error
	requested  bool     // a CertificateRequest came
	acceptable [][]byte // its certificate_authorities (DER names), at most maxAcceptableCAs
	version    uint16
}

// handshake dials endpoint and runs the client side of nginx's handshake as far as it goes without
// a client key: the served chain is read when it arrives, the CertificateRequest is answered with
// no certificate.
func handshake(ctx context.Context, endpoint string, t *Target, timeout time.Duration) observation {
	var ob observation
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		ob.dialErr = err
		return ob
	}
	defer raw.Close()
	var mu sync.Mutex
	cfg := &tls.Config{
		ServerName:         t.SNI,
		InsecureSkipVerify: true, // verified below with nginx's rules, not Go's
		MinVersion:         t.MinVersion,
		MaxVersion:         t.MaxVersion,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			mu.Lock()
			defer mu.Unlock()
			for i, der := range rawCerts {
				if i == maxServedCerts {
					break
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					ob.parseErr = err
					return nil
				}
				ob.chain = append(ob.chain, c)
			}
			return nil
		},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			ob.requested = true
			ob.acceptable = cri.AcceptableCAs[:min(len(cri.AcceptableCAs), maxAcceptableCAs)]
			return &tls.Certificate{}, nil
		},
	}
	c := tls.Client(raw, cfg)
	err = c.HandshakeContext(ctx)
	mu.Lock()
	defer mu.Unlock()
	ob.tlsErr = err
	if err == nil {
		ob.version = c.ConnectionState().Version
		_ = c.Close()
	}
	return ob
}

// notTLS reports whether err says the peer answered something other than TLS.
func notTLS(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "first record does not look like a TLS handshake")
}
