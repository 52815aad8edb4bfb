package patches

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// secretView is the part of a Secret the validations read. Data values are base64 in JSON and
// decode into []byte.
type secretView struct {
	Metadata struct {
		objectMeta
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
	StringData map[string]string `json:"stringData"`
}

func lookupSecret(objs objects.Objects, namespace, name string) (*secretView, bool, error) {
	raw, ok := objects.Get(objs, "Secret", namespace, name)
	if !ok {
		return nil, false, nil
	}
	var s secretView
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, true, fmt.Errorf("decoding Secret %s/%s: %w", namespace, name, err)
	}
	if s.Metadata.Namespace == "" {
		s.Metadata.Namespace = namespace
	}
	// Manifests may use stringData; the API server merges it into data the same way.
	for k, v := range s.StringData {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = []byte(v)
	}
	if s.Type == "" {
		s.Type = "Opaque"
	}
	return &s, true, nil
}

// parsedCerts memoises parsed certificates by Secret, key and resourceVersion: a Secret that does
// not change is parsed once, however many admissions consult it.
var parsedCerts = struct {
	sync.Mutex
	m map[string][]*x509.Certificate
}{m: map[string][]*x509.Certificate{}}

const parsedCertsMax = 4096

// certificates parses the PEM certificates under key of s.
func (s *secretView) certificates(key string) ([]*x509.Certificate, error) {
	data, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("no key %s", key)
	}
	memo := ""
	if rv := s.Metadata.ResourceVersion; rv != "" {
		memo = s.Metadata.Namespace + "/" + s.Metadata.Name + "/" + key + "@" + rv
		parsedCerts.Lock()
		certs, hit := parsedCerts.m[memo]
		parsedCerts.Unlock()
		if hit {
			return certs, nil
		}
	}
	certs, err := parsePEMCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	if memo != "" {
		parsedCerts.Lock()
		if len(parsedCerts.m) >= parsedCertsMax {
			clear(parsedCerts.m)
		}
		parsedCerts.m[memo] = certs
		parsedCerts.Unlock()
	}
	return certs, nil
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// expiry returns a refusal when c has expired at now and a warning when it expires within 30 days.
func expiry(c *x509.Certificate, now time.Time) (refusal, warning string) {
	switch {
	case now.After(c.NotAfter):
		return fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339)), ""
	case now.Before(c.NotBefore):
		return fmt.Sprintf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339)), ""
	case c.NotAfter.Sub(now) < 30*24*time.Hour:
		return "", fmt.Sprintf("expires on %s, in %d days", c.NotAfter.UTC().Format(time.RFC3339), int(c.NotAfter.Sub(now).Hours()/24))
	}
	return "", ""
}

// intermediatesToRoot returns the fewest intermediate certificates between leaf and one of roots,
// using the certificates in pool as candidates, or -1 when leaf does not chain to roots. Only
// signatures are checked (not expiry or usage, which are reported on their own).
func intermediatesToRoot(leaf *x509.Certificate, pool, roots []*x509.Certificate) int {
	rp := x509.NewCertPool()
	for _, r := range roots {
		rp.AddCert(r)
	}
	ip := x509.NewCertPool()
	for _, c := range pool {
		ip.AddCert(c)
	}
	// Verify at a moment inside every certificate's validity so expiry does not hide the chain.
	at := leaf.NotBefore.Add(time.Second)
	for _, c := range append(append([]*x509.Certificate{}, pool...), roots...) {
		if c.NotBefore.After(at) && c.NotBefore.Before(leaf.NotAfter) {
			at = c.NotBefore.Add(time.Second)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: rp, Intermediates: ip, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return -1
	}
	best := -1
	for _, ch := range chains {
		if n := len(ch) - 2; best < 0 || n < best {
			best = n
		}
	}
	if best < 0 {
		best = 0
	}
	return best
}

// opensslIntermediates counts the intermediates nginx's OpenSSL verification sees between leaf
// and a trust anchor of trusted (proxy_ssl_trusted_certificate). OpenSSL (without
// X509_V_FLAG_PARTIAL_CHAIN, which nginx does not set) only ends a chain at a self-signed
// certificate: a CA in trusted that is not self-signed is one more intermediate, and a trusted
// file without the self-signed root verifies nothing (-1).
func opensslIntermediates(leaf *x509.Certificate, sent, trusted []*x509.Certificate) int {
	var roots, pool []*x509.Certificate
	pool = append(pool, sent...)
	for _, c := range trusted {
		if selfSigned(c) {
			roots = append(roots, c)
		} else {
			pool = append(pool, c)
		}
	}
	if len(roots) == 0 {
		return -1
	}
	return intermediatesToRoot(leaf, pool, roots)
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

func allowsUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 {
		return true
	}
	for _, e := range c.ExtKeyUsage {
		if e == u || e == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func subject(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return "CN=" + c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return "DNS:" + strings.Join(c.DNSNames, ",")
	case len(c.Subject.String()) > 0:
		return c.Subject.String()
	}
	return "a certificate without subject"
}
