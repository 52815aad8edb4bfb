package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"
)

// bundleOf is n copies of c's PEM.
func bundleOf(c *testCert, n int) []byte { return bytes.Repeat(c.pem, n) }

// A hundred versions of one Secret's bundle leave one parsed entry: the cache holds the DER of the
// latest version only, not a copy per resourceVersion.
func TestParseCachedKeepsOneVersionPerKey(t *testing.T) {
	ca := testPKI(t)["ca"]
	bundle := bundleOf(ca, MaxBundleCerts)
	before, _ := CachedBytes()
	for v := 0; v < 100; v++ {
		certs, err := ParseCached(fmt.Sprintf("versions/big/ca.crt@%d", v), bundle)
		if err != nil || len(certs) != MaxBundleCerts {
			t.Fatalf("version %d: %d certificates, %v", v, len(certs), err)
		}
	}
	held, _ := CachedBytes()
	one := entryCost("versions/big/ca.crt", mustParse(t, bundle))
	if grew := held - before; grew != one {
		t.Fatalf("after 100 versions of one %d-byte bundle the cache grew by %d bytes, want %d (one version)", len(bundle), grew, one)
	}
	// The latest version is served from the cache; an earlier one is parsed again.
	a, _ := ParseCached("versions/big/ca.crt@99", bundle)
	b, _ := ParseCached("versions/big/ca.crt@99", bundle)
	if &a[0] != &b[0] {
		t.Errorf("the current version was parsed again")
	}
}

// Many objects: the bytes held never pass the bound, the least recently used go first.
func TestParseCachedBoundedInBytes(t *testing.T) {
	ca := testPKI(t)["ca"]
	bundle := bundleOf(ca, 10)
	per := entryCost("ns/s100/ca.crt", mustParse(t, bundle)) // the longest keys below
	bound := 5*per + per/2
	c := newCache(bound) // room for 5 bundles
	for i := 0; i < 200; i++ {
		if _, err := c.parse(fmt.Sprintf("ns/s%d/ca.crt@1", i), bundle); err != nil {
			t.Fatal(err)
		}
		if held, _ := c.entries.Size(); held > bound {
			t.Fatalf("after %d Secrets the cache holds %d bytes, over its bound %d", i+1, held, bound)
		}
	}
	if held, n := c.entries.Size(); n != 5 || held != 5*per {
		t.Errorf("cache holds %d entries, %d bytes; want the 5 most recent, %d bytes", n, held, 5*per)
	}
	if one := entryCost("k", mustParse(t, bundle)); one < 10*int64(len(ca.cert.Raw))+10*parsedOverhead {
		t.Errorf("an entry of 10 certificates costs %d bytes, less than their DER and parsed fields", one)
	}
	if !holds(c, "ns/s199/ca.crt", "1") {
		t.Errorf("the most recent entry was evicted")
	}
	if holds(c, "ns/s0/ca.crt", "1") {
		t.Errorf("the oldest entry is still held")
	}
	// A version that no longer parses forgets the entry.
	if _, err := c.parse("ns/s199/ca.crt@2", []byte("junk")); err == nil {
		t.Fatal("junk parsed")
	}
	if holds(c, "ns/s199/ca.crt", "1") {
		t.Errorf("an entry whose object now holds junk is still held")
	}
}

// Data past the bounds is refused before any certificate is parsed: the 1 MiB bundle of 2,111
// copies of one certificate, and 65 certificates within the byte bound.
func TestParseRefusesDataPastTheBounds(t *testing.T) {
	ca := testPKI(t)["ca"]
	for name, tc := range map[string]struct {
		data  []byte
		certs int
	}{
		"1 MiB":           {bundleOf(ca, (1<<20)/len(ca.pem)+1), 0},
		"one byte over":   {append(bundleOf(ca, MaxBundleBytes/len(ca.pem)), bytes.Repeat([]byte("\n"), MaxBundleBytes%len(ca.pem)+1)...), 0},
		"65 certificates": {bundleOf(ca, MaxBundleCerts+1), MaxBundleCerts + 1},
	} {
		start := time.Now()
		got, err := ParseCached("bounds/"+name+"/ca.crt@1", tc.data)
		var tl *TooLargeError
		if !errors.As(err, &tl) || got != nil {
			t.Errorf("%s (%d bytes): want a *TooLargeError, got %d certificates, %v", name, len(tc.data), len(got), err)
			continue
		}
		if tl.Bytes != len(tc.data) || tl.Certs != tc.certs {
			t.Errorf("%s: error says %d bytes, %d certificates; want %d, %d", name, tl.Bytes, tl.Certs, len(tc.data), tc.certs)
		}
		t.Logf("%s: %v in %s", name, err, time.Since(start))
	}
	if certs, err := Parse(bundleOf(ca, MaxBundleCerts)); err != nil || len(certs) != MaxBundleCerts {
		t.Errorf("%d certificates, at the bound: %d parsed, %v", MaxBundleCerts, len(certs), err)
	}
}

func mustParse(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// holds is whether c holds key at version.
func holds(c *cache, key, version string) bool {
	e, ok := c.entries.Get(key)
	return ok && e.version == version
}

// A version that does not parse is parsed once: asked again (each scrape, each admission) it
// answers the same error from the cache; a new version is parsed again.
func TestParseCachedRemembersErrors(t *testing.T) {
	ca := testPKI(t)["ca"]
	corrupt := append(bundleOf(ca, 3), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")...)
	calls := 0
	parse = func(data []byte) ([]*x509.Certificate, error) { calls++; return Parse(data) }
	defer func() { parse = Parse }()
	c := newCache(CacheBytes)
	_, first := c.parse("errors/ca/ca.crt@1", corrupt)
	if first == nil {
		t.Fatal("a corrupt bundle parsed")
	}
	for range 10 {
		if _, err := c.parse("errors/ca/ca.crt@1", corrupt); err == nil || err.Error() != first.Error() {
			t.Fatalf("asked again: %v, want %v", err, first)
		}
	}
	if calls != 1 {
		t.Errorf("one corrupt version asked 11 times was parsed %d times, want 1", calls)
	}
	if certs, err := c.parse("errors/ca/ca.crt@2", bundleOf(ca, 3)); err != nil || len(certs) != 3 || calls != 2 {
		t.Errorf("the fixed version: %d certificates, %v, %d parses", len(certs), err, calls)
	}
}
