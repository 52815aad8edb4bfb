package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"time"
)

// CABundle returns the CA bundle NIC should trust when the issuing CA is current and the bundle it
// trusts so far is previous: current first, then every earlier CA of previous that has not expired
// yet, so that connections keep verifying while certificates from the old CA are still in use.
// next is when the bundle must be recomputed (the first old CA's expiry), zero if never.
func CABundle(current, previous []byte, now time.Time) (bundle []byte, next time.Time, err error) {
	cur, err := Parse(current)
	if err != nil {
		return nil, time.Time{}, err
	}
	seen := map[string]bool{}
	var out bytes.Buffer
	add := func(c *x509.Certificate) {
		if seen[string(c.Raw)] {
			return
		}
		seen[string(c.Raw)] = true
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, c := range IssuingCAs(cur) {
		add(c)
	}
	old, _ := Parse(previous) // an unreadable old bundle is replaced
	for _, c := range old {
		if seen[string(c.Raw)] || !now.Before(c.NotAfter) {
			continue
		}
		add(c)
		if next.IsZero() || c.NotAfter.Before(next) {
			next = c.NotAfter
		}
	}
	return out.Bytes(), next, nil
}

// IssuingCAs are the CA certificates of a cert-manager CA Secret's tls.crt (the first certificate
// when none is marked CA): what the nginx.org/ca Secret must hold.
func IssuingCAs(certs []*x509.Certificate) []*x509.Certificate {
	var cas []*x509.Certificate
	for _, c := range certs {
		if c.IsCA {
			cas = append(cas, c)
		}
	}
	if len(cas) == 0 {
		cas = certs[:1]
	}
	return cas
}

// MissingCAs returns the CA certificates of source (a cert-manager CA Secret's tls.crt) that
// bundle does not hold: the CAs the CA sync would write into the nginx.org/ca Secret.
func MissingCAs(bundle []*x509.Certificate, source []byte) ([]*x509.Certificate, error) {
	src, err := Parse(source)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, c := range bundle {
		held[string(c.Raw)] = true
	}
	var missing []*x509.Certificate
	for _, c := range IssuingCAs(src) {
		if !held[string(c.Raw)] {
			missing = append(missing, c)
		}
	}
	return missing, nil
}
