package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// AnyClientSubject in the allowed subjects accepts every client certificate the client CA signed.
const AnyClientSubject = "*"

// DefaultClientAllowedSubjects are the serve command's --client-allowed-subjects.
var DefaultClientAllowedSubjects = []string{"kube-apiserver"}

// DefaultClientCAReload is how often the client CA file is checked for a change.
const DefaultClientCAReload = 10 * time.Second

// maxClientCABytes bounds the client CA file read (a ConfigMap holds at most 1 MiB).
const maxClientCABytes = 1 << 20

// clientAuth requires of every connection a client certificate that the CA in file signed and
// whose common name or one of whose DNS names is among allowed. The file is read again every
// interval; a change (a mounted ConfigMap is swapped by a symlink) applies to the handshakes that
// follow, without a restart. Established connections keep the certificate they were opened with.
type clientAuth struct {
	file     string
	allowed  []string
	interval time.Duration
	base     *tls.Config
	log      logr.Logger

	last []byte
	cfg  atomic.Pointer[tls.Config]
}

// newClientAuth reads the client CA in file and sets base (the serving config) to hand every
// handshake the config with the current CA.
func newClientAuth(base *tls.Config, file string, allowed []string, interval time.Duration, log logr.Logger) (*clientAuth, error) {
	if len(allowed) == 0 {
		return nil, fmt.Errorf("client authentication (--client-ca-name %s): --client-allowed-subjects is empty; "+
			"expected the names (common name or DNS name) of the API server's admission client certificate, or %q for any certificate the CA signed",
			file, AnyClientSubject)
	}
	if interval <= 0 {
		interval = DefaultClientCAReload
	}
	a := &clientAuth{file: file, allowed: allowed, interval: interval, base: base.Clone(), log: log}
	if _, err := a.reload(); err != nil {
		return nil, err
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.ClientCAs = a.cfg.Load().ClientCAs
	base.VerifyConnection = a.verifySubject
	base.SessionTicketsDisabled = true
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return a.cfg.Load(), nil }
	return a, nil
}

// reload reads the file and, when it changed, swaps in a config trusting its certificates. A file
// that cannot be read or holds no certificate leaves the previous CA in place.
func (a *clientAuth) reload() (bool, error) {
	f, err := os.Open(a.file)
	if err != nil {
		return false, fmt.Errorf("reading the client CA: %w", err)
	}
	pem, err := io.ReadAll(io.LimitReader(f, maxClientCABytes+1))
	_ = f.Close()
	if err != nil {
		return false, fmt.Errorf("reading the client CA: %w", err)
	}
	if len(pem) > maxClientCABytes {
		return false, fmt.Errorf("client CA %s: expected at most %d bytes (a ConfigMap's limit), found more", a.file, maxClientCABytes)
	}
	if a.last != nil && bytes.Equal(pem, a.last) {
		return false, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return false, fmt.Errorf("client CA %s: expected PEM certificates, found none", a.file)
	}
	cfg := a.base.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	cfg.VerifyConnection = a.verifySubject
	// A resumed session would skip the verification against the current CA.
	cfg.SessionTicketsDisabled = true
	cfg.GetConfigForClient = nil
	a.cfg.Store(cfg)
	a.last = pem
	return true, nil
}

// watch reloads the client CA every interval until ctx ends.
func (a *clientAuth) watch(ctx context.Context) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := a.reload()
			switch {
			case err != nil:
				a.log.Error(err, "client CA not reloaded: the previous one stays in use", "file", a.file)
			case changed:
				a.log.Info("client CA reloaded", "file", a.file)
			}
		}
	}
}

// verifySubject refuses a verified client certificate that names none of the allowed subjects.
func (a *clientAuth) verifySubject(cs tls.ConnectionState) error {
	if slices.Contains(a.allowed, AnyClientSubject) {
		return nil
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return errors.New("client certificate: expected one the client CA signed, found none verified")
	}
	leaf := cs.VerifiedChains[0][0]
	if slices.Contains(a.allowed, leaf.Subject.CommonName) {
		return nil
	}
	for _, n := range leaf.DNSNames {
		if slices.Contains(a.allowed, n) {
			return nil
		}
	}
	return fmt.Errorf("client certificate %q (subject common name and DNS names): expected one of [%s], found common name %q, DNS names [%s]; "+
		"the connection is refused, so admission requests over it fail (failurePolicy applies); "+
		"issue the API server's admission client certificate with one of those names, or add its name to --client-allowed-subjects (chart value clientAuth.allowedSubjects)",
		leaf.Subject.String(), strings.Join(a.allowed, ", "), leaf.Subject.CommonName, strings.Join(leaf.DNSNames, ", "))
}
