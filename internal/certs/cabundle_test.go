package certs

import (
	"strings"
	"testing"
	"time"
)

func TestCABundleKeepsTheOldCAUntilItExpires(t *testing.T) {
	pki := testPKI(t)
	oldCA, newCA := pki["expired-ca"], pki["ca"] // expired-ca is valid 2020 → 2021
	during := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)

	// First sync: only the current CA.
	b, next, err := CABundle(newCA.pem, nil, during)
	if err != nil || strings.Count(string(b), "BEGIN CERTIFICATE") != 1 || !next.IsZero() {
		t.Fatalf("first bundle: %d certs, next %v, err %v", strings.Count(string(b), "BEGIN CERTIFICATE"), next, err)
	}
	// Rotation while the old CA is still valid: new first, then old; recompute at the old expiry.
	b, next, err = CABundle(newCA.pem, oldCA.pem, during)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := Parse(b)
	if len(certs) != 2 || certs[0].Subject.CommonName != "Internal CA" || certs[1].Subject.CommonName != "Expired CA" || !next.Equal(oldCA.cert.NotAfter) {
		t.Fatalf("overlap bundle: %v next %v", certs, next)
	}
	// Recomputing with the bundle itself is stable.
	again, _, _ := CABundle(newCA.pem, b, during)
	if string(again) != string(b) {
		t.Error("recomputing the bundle changed it")
	}
	// After the old CA expires it is dropped.
	b, next, _ = CABundle(newCA.pem, b, oldCA.cert.NotAfter.Add(time.Second))
	if strings.Count(string(b), "BEGIN CERTIFICATE") != 1 || !next.IsZero() {
		t.Errorf("after expiry: want the new CA only, got %d certs", strings.Count(string(b), "BEGIN CERTIFICATE"))
	}
	if _, _, err := CABundle([]byte("garbage"), nil, during); err == nil {
		t.Error("want an error for a source without a certificate")
	}
}

// Data that does not change is parsed once: the cached certificates are reused while the key
// (which callers build from the resourceVersion) stays the same.
func TestParseCachedReusesPerKey(t *testing.T) {
	pki := testPKI(t)
	a, err := ParseCached("ns/memo-test/tls.crt@1", pki["server"].pem)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseCached("ns/memo-test/tls.crt@1", pki["server"].pem)
	c, _ := ParseCached("ns/memo-test/tls.crt@2", pki["server"].pem)
	if &a[0] != &b[0] {
		t.Error("same key: want the cached parse")
	}
	if &a[0] == &c[0] {
		t.Error("new key: want a fresh parse")
	}
}
