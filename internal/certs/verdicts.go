package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/lru"
)

// VerdictEntries bounds the signature verdicts remembered (about 150 bytes each with the LRU's
// bookkeeping: ~1.2 MiB). One Secret's certificates are judged several times per object (a Policy,
// then again for each VirtualServer that names it) and each ECDSA or RSA verification costs
// 50-300 µs; `check` judges every namespace of a cluster this way.
const VerdictEntries = 8192

// verdicts holds answers that depend only on the certificates' DER, keyed by its SHA-256: a
// tampered or other certificate has another key, so a verdict is never reused for it.
var verdicts = lru.New[[sha256.Size]byte, int](VerdictEntries)

// The signature checks, replaced in a test that counts them.
var (
	checkSignatureFrom = (*x509.Certificate).CheckSignatureFrom
	verify             = (*x509.Certificate).Verify
)

// verdictKey hashes a tag and the DER of each group of certificates, each length-prefixed.
func verdictKey(tag byte, groups ...[]*x509.Certificate) ([sha256.Size]byte, bool) {
	h := sha256.New()
	var n [8]byte
	for _, g := range groups {
		h.Write([]byte{tag})
		for _, c := range g {
			if len(c.Raw) == 0 {
				return [sha256.Size]byte{}, false
			}
			binary.BigEndian.PutUint64(n[:], uint64(len(c.Raw)))
			h.Write(n[:])
			h.Write(c.Raw)
		}
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k, true
}

// remembered returns the verdict under key, computing and keeping it the first time. A question
// about a certificate without its DER (Raw: one built, not parsed) is not remembered.
func remembered(key [sha256.Size]byte, ok bool, compute func() int) int {
	if !ok {
		return compute()
	}
	if v, ok := verdicts.Get(key); ok {
		return v
	}
	v := compute()
	verdicts.Put(key, v, 1)
	return v
}
