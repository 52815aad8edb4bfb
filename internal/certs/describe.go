package certs

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// ExpiringWithin is how early an upcoming expiry is reported.
const ExpiringWithin = 30 * 24 * time.Hour

// Expiry returns a problem when c is not valid at now (expired, or not valid yet) and a notice
// when it expires within ExpiringWithin.
func Expiry(c *x509.Certificate, now time.Time) (problem, notice string) {
	switch {
	case now.After(c.NotAfter):
		return fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339)), ""
	case now.Before(c.NotBefore):
		return fmt.Sprintf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339)), ""
	case c.NotAfter.Sub(now) < ExpiringWithin:
		return "", fmt.Sprintf("expires on %s, in %d days", c.NotAfter.UTC().Format(time.RFC3339), int(c.NotAfter.Sub(now).Hours()/24))
	}
	return "", ""
}

// DaysLeft says when c expires, relative to now: "expires in 364 days (2027-05-01)".
func DaysLeft(c *x509.Certificate, now time.Time) string {
	left := c.NotAfter.Sub(now)
	switch {
	case left < 0:
		return fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.DateOnly))
	case left < 48*time.Hour:
		return fmt.Sprintf("expires in %d hours (%s)", int(left.Hours()), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("expires in %d days (%s)", int(left.Hours()/24), c.NotAfter.UTC().Format(time.DateOnly))
}

// Subject names a certificate in messages: CN=..., else its DNS names, else its full subject
// (cert-manager issues server certificates without a subject when spec.commonName is unset).
func Subject(c *x509.Certificate) string {
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

// IssuerName names c's issuer in messages.
func IssuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return "CN=" + c.Issuer.CommonName
	}
	return c.Issuer.String()
}
