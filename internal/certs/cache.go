package certs

import (
	"crypto/x509"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/lru"
)

// CacheBytes bounds the heap the certificates ParseCached keeps, as entryCost estimates it. It
// holds the few Secrets of an installation many times over (a few KiB each).
const CacheBytes = 16 << 20

// parsedOverhead is what a parsed certificate holds on the heap besides its DER: measured
// 1.8-2.0 KiB for RSA 2048, ECDSA P-256 and Ed25519 certificates (crypto/x509 keeps the DER once
// and its parsed fields beside it), so a 300-byte certificate costs 7 times its DER.
const parsedOverhead = 2304

// entryCost estimates the heap an entry holds: its key, and each certificate's DER and parsed
// fields.
func entryCost(key string, certs []*x509.Certificate) int64 {
	n := int64(len(key))
	for _, cert := range certs {
		n += int64(len(cert.Raw)) + parsedOverhead
	}
	return n
}

// cache keeps one parsed entry per object and key, replaced when the object's version changes,
// least recently used first out once the bytes held pass the bound: writing a hundred versions
// of one Secret leaves one entry, and many Secrets leave at most CacheBytes.
type cache struct {
	entries *lru.Cache[string, versioned]
}

// versioned is the certificates of one version of an object's key, or why they do not parse.
type versioned struct {
	version string
	certs   []*x509.Certificate
	err     error
}

// parse is Parse; a test counts its calls.
var parse = Parse

func newCache(max int64) *cache {
	return &cache{entries: lru.New[string, versioned](max)}
}

var parsed = newCache(CacheBytes)

// ParseCached is Parse, remembered under memo when memo is not empty. memo is
// "namespace/name/key@resourceVersion": the part before the last @ names the entry, the part after
// it the version the entry holds (a new version replaces the entry).
func ParseCached(memo string, data []byte) ([]*x509.Certificate, error) {
	return parsed.parse(memo, data)
}

// CachedBytes is what ParseCached holds: the estimated heap of its entries, and their number.
func CachedBytes() (bytes int64, entries int) {
	return parsed.entries.Size()
}

func (c *cache) parse(memo string, data []byte) ([]*x509.Certificate, error) {
	if memo == "" {
		return Parse(data)
	}
	key, version := memo, ""
	if i := strings.LastIndexByte(memo, '@'); i >= 0 {
		key, version = memo[:i], memo[i+1:]
	}
	if e, ok := c.entries.Get(key); ok && e.version == version {
		return e.certs, e.err
	}
	// A version that does not parse is remembered too: a bundle with one corrupt block is not
	// parsed again at every scrape and admission until it changes.
	certs, err := parse(data)
	if err != nil {
		c.entries.Put(key, versioned{version: version, err: err}, int64(len(key)+len(err.Error()))+parsedOverhead)
		return nil, err
	}
	c.entries.Put(key, versioned{version: version, certs: certs}, entryCost(key, certs))
	return certs, nil
}
