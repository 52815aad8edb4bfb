package certs

import (
	"bytes"
	"crypto/x509"
	"time"
)

// Intermediates returns the fewest intermediate certificates between leaf and one of roots, using
// the certificates in pool as candidates, or -1 when leaf does not chain to roots. Only signatures
// are checked (not expiry or usage, which are judged on their own).
func Intermediates(leaf *x509.Certificate, pool, roots []*x509.Certificate) int {
	key, ok := verdictKey('i', []*x509.Certificate{leaf}, pool, roots)
	return remembered(key, ok, func() int { return intermediates(leaf, pool, roots) })
}

func intermediates(leaf *x509.Certificate, pool, roots []*x509.Certificate) int {
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
	chains, err := verify(leaf, x509.VerifyOptions{Roots: rp, Intermediates: ip, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return -1
	}
	best := -1
	for _, ch := range chains {
		if n := len(ch) - 2; best < 0 || n < best {
			best = n
		}
	}
	return max(best, 0)
}

// OpenSSLIntermediates counts the intermediates nginx's OpenSSL verification sees between leaf
// and a trust anchor of trusted (proxy_ssl_trusted_certificate). OpenSSL (without
// X509_V_FLAG_PARTIAL_CHAIN, which nginx does not set) only ends a chain at a self-signed
// certificate: a CA in trusted that is not self-signed is one more intermediate, and a trusted
// file without the self-signed root verifies nothing (-1).
func OpenSSLIntermediates(leaf *x509.Certificate, sent, trusted []*x509.Certificate) int {
	var roots, pool []*x509.Certificate
	pool = append(pool, sent...)
	for _, c := range trusted {
		if SelfSigned(c) {
			roots = append(roots, c)
		} else {
			pool = append(pool, c)
		}
	}
	if len(roots) == 0 {
		return -1
	}
	return Intermediates(leaf, pool, roots)
}

// SelfSigned reports whether c is a self-signed certificate (an anchor for OpenSSL).
func SelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	key, ok := verdictKey('s', []*x509.Certificate{c})
	return remembered(key, ok, func() int {
		if checkSignatureFrom(c, c) == nil {
			return 1
		}
		return 0
	}) == 1
}

// HasSelfSigned reports whether certs hold a self-signed certificate.
func HasSelfSigned(certs []*x509.Certificate) bool {
	for _, c := range certs {
		if SelfSigned(c) {
			return true
		}
	}
	return false
}

// ValidAt returns the certificates of certs valid at now.
func ValidAt(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if !now.Before(c.NotBefore) && !now.After(c.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

// AllowsUsage reports whether c's extended key usage allows u (no extension allows everything).
func AllowsUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
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

// Latest is the certificate of certs that expires last (a CA bundle during a rotation holds the old
// CA until it expires; the new one is what counts); nil for none.
func Latest(certs []*x509.Certificate) *x509.Certificate {
	var latest *x509.Certificate
	for _, c := range certs {
		if latest == nil || c.NotAfter.After(latest.NotAfter) {
			latest = c
		}
	}
	return latest
}
