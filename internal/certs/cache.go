package certs

import (
	"container/list"
	"crypto/x509"
	"strings"
	"sync"
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
	mu    sync.Mutex
	max   int64
	held  int64
	order *list.List // of *cacheEntry, most recently used first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key, version string
	certs        []*x509.Certificate
	bytes        int64
}

func newCache(max int64) *cache {
	return &cache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
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
	return parsed.size()
}

func (c *cache) parse(memo string, data []byte) ([]*x509.Certificate, error) {
	if memo == "" {
		return Parse(data)
	}
	key, version := memo, ""
	if i := strings.LastIndexByte(memo, '@'); i >= 0 {
		key, version = memo[:i], memo[i+1:]
	}
	if certs, ok := c.get(key, version); ok {
		return certs, nil
	}
	certs, err := Parse(data)
	if err != nil {
		c.drop(key)
		return nil, err
	}
	c.put(key, version, certs)
	return certs, nil
}

func (c *cache) get(key, version string) ([]*x509.Certificate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok || el.Value.(*cacheEntry).version != version {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).certs, true
}

func (c *cache) put(key, version string, certs []*x509.Certificate) {
	n := entryCost(key, certs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(key)
	if n > c.max {
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, version: version, certs: certs, bytes: n})
	c.held += n
	for c.held > c.max {
		c.remove(c.order.Back().Value.(*cacheEntry).key)
	}
}

// drop forgets key: its current version does not parse.
func (c *cache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(key)
}

func (c *cache) remove(key string) {
	el, ok := c.byKey[key]
	if !ok {
		return
	}
	c.order.Remove(el)
	delete(c.byKey, key)
	c.held -= el.Value.(*cacheEntry).bytes
}

func (c *cache) size() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held, len(c.byKey)
}
