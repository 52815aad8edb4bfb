package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"time"
)

// MaxPreviousCAs bounds the previous CAs a bundle keeps beside the current one. A rotation keeps
// the old CA until it expires, so a bundle normally holds one previous CA, two when the CA rotates
// again before the first expires; a source rotated in a loop would otherwise grow the bundle to
// the Secret size limit (1 MiB) and every NIC reload with it. Past the bound the oldest go first.
const MaxPreviousCAs = 8

// Fingerprint is the hex SHA-256 of a certificate's DER: how the CA sync records what it wrote.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Bundle is the CA bundle the CA sync writes.
type Bundle struct {
	PEM []byte
	// Fingerprints of the certificates PEM holds, in its order: the record of what the sync wrote.
	Fingerprints []string
	// Next is when the bundle must be recomputed (the first previous CA's expiry), zero if never.
	Next time.Time
	// Foreign are the certificates of the previous bundle the sync did not write: left out.
	Foreign []*x509.Certificate
	// Dropped are the sync's own unexpired previous CAs left out: all of them with dropPrevious,
	// else those past MaxPreviousCAs.
	Dropped []*x509.Certificate
}

// CABundle returns the CA bundle NIC should trust when the issuing CA is current and the bundle
// written so far is previous: current's CAs first, then each unexpired certificate of previous
// that the CA sync wrote itself (its Fingerprint in own), newest first and at most
// MaxPreviousCAs, so that connections keep verifying while certificates from the old CA are
// still in use. Trust comes only from the source: a certificate of previous that is not in own
// (added by hand or by anyone else) is left out, whatever its expiry. dropPrevious leaves out
// every previous CA at once (a compromised CA).
func CABundle(current, previous []byte, own map[string]bool, now time.Time, dropPrevious bool) (Bundle, error) {
	cur, err := Parse(current)
	if err != nil {
		return Bundle{}, err
	}
	var b Bundle
	seen := map[string]bool{}
	var out bytes.Buffer
	add := func(c *x509.Certificate, fp string) {
		seen[fp] = true
		b.Fingerprints = append(b.Fingerprints, fp)
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, c := range IssuingCAs(cur) {
		if fp := Fingerprint(c); !seen[fp] {
			add(c, fp)
		}
	}
	old, _ := Parse(previous) // an unreadable old bundle is replaced
	kept := 0
	for _, c := range old {
		fp := Fingerprint(c)
		switch {
		case seen[fp] || !now.Before(c.NotAfter):
			continue
		case !own[fp]:
			b.Foreign = append(b.Foreign, c)
			seen[fp] = true
			continue
		case dropPrevious || kept == MaxPreviousCAs:
			b.Dropped = append(b.Dropped, c)
			seen[fp] = true
			continue
		}
		add(c, fp)
		kept++
		if b.Next.IsZero() || c.NotAfter.Before(b.Next) {
			b.Next = c.NotAfter
		}
	}
	b.PEM = out.Bytes()
	return b, nil
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
