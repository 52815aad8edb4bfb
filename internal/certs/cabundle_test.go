package certs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// own records every certificate of pems, as the CA sync records what it wrote.
func own(pems ...[]byte) map[string]bool {
	m := map[string]bool{}
	for _, p := range pems {
		cs, _ := Parse(p)
		for _, c := range cs {
			m[Fingerprint(c)] = true
		}
	}
	return m
}

func count(b []byte) int { return strings.Count(string(b), "BEGIN CERTIFICATE") }

func TestCABundleKeepsTheOldCAUntilItExpires(t *testing.T) {
	pki := testPKI(t)
	oldCA, newCA := pki["expired-ca"], pki["ca"] // expired-ca is valid 2020 → 2021
	during := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)

	// First sync: only the current CA.
	b, err := CABundle(newCA.pem, nil, nil, during, false)
	if err != nil || count(b.PEM) != 1 || !b.Next.IsZero() || len(b.Fingerprints) != 1 || b.Fingerprints[0] != Fingerprint(newCA.cert) {
		t.Fatalf("first bundle: %d certs, fingerprints %v, next %v, err %v", count(b.PEM), b.Fingerprints, b.Next, err)
	}
	// Rotation while the old CA, which the sync wrote, is still valid: new first, then old;
	// recompute at the old expiry.
	b, err = CABundle(newCA.pem, oldCA.pem, own(oldCA.pem), during, false)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := Parse(b.PEM)
	if len(certs) != 2 || certs[0].Subject.CommonName != "Internal CA" || certs[1].Subject.CommonName != "Expired CA" || !b.Next.Equal(oldCA.cert.NotAfter) {
		t.Fatalf("overlap bundle: %v next %v", certs, b.Next)
	}
	if len(b.Fingerprints) != 2 || b.Fingerprints[1] != Fingerprint(oldCA.cert) || len(b.Foreign) != 0 || len(b.Dropped) != 0 {
		t.Fatalf("overlap bundle: fingerprints %v foreign %d dropped %d", b.Fingerprints, len(b.Foreign), len(b.Dropped))
	}
	// Recomputing with the bundle itself and its record is stable.
	again, _ := CABundle(newCA.pem, b.PEM, own(b.PEM), during, false)
	if string(again.PEM) != string(b.PEM) {
		t.Error("recomputing the bundle changed it")
	}
	// After the old CA expires it is dropped.
	b, _ = CABundle(newCA.pem, b.PEM, own(b.PEM), oldCA.cert.NotAfter.Add(time.Second), false)
	if count(b.PEM) != 1 || !b.Next.IsZero() {
		t.Errorf("after expiry: want the new CA only, got %d certs", count(b.PEM))
	}
	if _, err := CABundle([]byte("garbage"), nil, nil, during, false); err == nil {
		t.Error("want an error for a source without a certificate")
	}
}

// A certificate someone else put into the bundle is not trusted: it is left out at the next sync
// however long it is valid, and reported.
func TestCABundleDropsForeignCertificates(t *testing.T) {
	pki := testPKI(t)
	during := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	current, ownOld, foreign := pki["ca"], pki["expired-ca"], pki["intermediate"]
	previous := append(append(append([]byte{}, current.pem...), foreign.pem...), ownOld.pem...)
	b, err := CABundle(current.pem, previous, own(current.pem, ownOld.pem), during, false)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := Parse(b.PEM)
	if len(certs) != 2 || certs[0].Subject.CommonName != "Internal CA" || certs[1].Subject.CommonName != "Expired CA" {
		t.Fatalf("want the current CA and the sync's own previous CA, got %v", certs)
	}
	if len(b.Foreign) != 1 || b.Foreign[0].Subject.CommonName != "Intermediate CA" || len(b.Dropped) != 0 {
		t.Errorf("foreign %v dropped %v: want the intermediate reported as foreign", b.Foreign, b.Dropped)
	}
	// Without a record (a target the sync never wrote, or a record lost) nothing previous is kept.
	b, _ = CABundle(current.pem, previous, nil, during, false)
	if count(b.PEM) != 1 || len(b.Foreign) != 2 {
		t.Errorf("no record: %d certs, %d foreign; want the current CA only", count(b.PEM), len(b.Foreign))
	}
}

// dropPrevious removes the previous CAs at once, before they expire; the current CA stays.
func TestCABundleDropPrevious(t *testing.T) {
	pki := testPKI(t)
	during := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	current, compromised := pki["ca"], pki["expired-ca"]
	previous := append(append([]byte{}, compromised.pem...), current.pem...)
	b, err := CABundle(current.pem, previous, own(previous), during, true)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := Parse(b.PEM)
	if len(certs) != 1 || certs[0].Subject.CommonName != "Internal CA" || !b.Next.IsZero() {
		t.Fatalf("drop previous: want the current CA only, got %v (next %v)", certs, b.Next)
	}
	if len(b.Dropped) != 1 || b.Dropped[0].Subject.CommonName != "Expired CA" || len(b.Fingerprints) != 1 {
		t.Errorf("dropped %v fingerprints %v", b.Dropped, b.Fingerprints)
	}
}

// However often the source rotates, a bundle keeps at most MaxPreviousCAs previous CAs: the
// newest ones.
func TestCABundleBoundsPreviousCAs(t *testing.T) {
	from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	record := map[string]bool{}
	var bundle []byte
	var cas []*testCert
	for i := 0; i < MaxPreviousCAs+3; i++ {
		ca := issue(t, fmt.Sprintf("CA %d", i), true, nil, from, to)
		cas = append(cas, ca)
		b, err := CABundle(ca.pem, bundle, record, now, false)
		if err != nil {
			t.Fatal(err)
		}
		bundle = b.PEM
		for _, fp := range b.Fingerprints {
			record[fp] = true
		}
	}
	certs, _ := Parse(bundle)
	if len(certs) != 1+MaxPreviousCAs {
		t.Fatalf("%d certificates, want %d", len(certs), 1+MaxPreviousCAs)
	}
	for i, c := range certs {
		if want := fmt.Sprintf("CA %d", len(cas)-1-i); c.Subject.CommonName != want {
			t.Errorf("certificate %d is %s, want %s (newest first)", i, c.Subject.CommonName, want)
		}
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
