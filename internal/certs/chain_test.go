package certs

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestOpenSSLIntermediates(t *testing.T) {
	pki := testPKI(t)
	ca, inter := pki["ca"].cert, pki["intermediate"].cert
	leaf, viaInter := pki["server"].cert, pki["server-via-intermediate"].cert
	for _, c := range []struct {
		name          string
		got, expected int
	}{
		{"direct from the root", OpenSSLIntermediates(leaf, nil, []*x509.Certificate{ca}), 0},
		{"intermediate sent", OpenSSLIntermediates(viaInter, []*x509.Certificate{inter}, []*x509.Certificate{ca}), 1},
		{"intermediate in the trusted file counts too", OpenSSLIntermediates(viaInter, nil, []*x509.Certificate{ca, inter}), 1},
		{"intermediate missing", OpenSSLIntermediates(viaInter, nil, []*x509.Certificate{ca}), -1},
		{"only the intermediate trusted: OpenSSL needs the self-signed root", OpenSSLIntermediates(viaInter, nil, []*x509.Certificate{inter}), -1},
		{"other CA", OpenSSLIntermediates(leaf, nil, []*x509.Certificate{pki["expired-ca"].cert}), -1},
	} {
		if c.got != c.expected {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.expected)
		}
	}
}

func TestKeyMatches(t *testing.T) {
	pki := testPKI(t)
	if err := KeyMatches(pki["server"].pem, pki["server"].keyPEM); err != nil {
		t.Errorf("own key: %v", err)
	}
	if err := KeyMatches(pki["server"].pem, pki["ca"].keyPEM); err == nil {
		t.Error("another certificate's key: want an error")
	}
}

func TestValidAtAndExpiry(t *testing.T) {
	pki := testPKI(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := ValidAt([]*x509.Certificate{pki["ca"].cert, pki["expired-ca"].cert}, now)
	if len(got) != 1 || got[0] != pki["ca"].cert {
		t.Errorf("ValidAt: %v", got)
	}
	if p, _ := Expiry(pki["expired-ca"].cert, now); p == "" {
		t.Error("expired CA: want a problem")
	}
	if p, n := Expiry(pki["ca"].cert, pki["ca"].cert.NotAfter.Add(-24*time.Hour)); p != "" || n == "" {
		t.Errorf("CA a day before expiry: problem %q notice %q", p, n)
	}
}
