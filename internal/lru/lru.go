// Package lru holds a least-recently-used cache bounded by a total cost: a count when every entry
// costs 1, bytes when the cost is an entry's size.
package lru

import (
	"container/list"
	"sync"
)

// Cache maps keys to values, at most Max in total cost: putting past it drops the least recently
// used entries first, and a value costing more than Max alone is not kept. Safe for concurrent use.
type Cache[K comparable, V any] struct {
	max   int64
	mu    sync.Mutex
	held  int64
	order list.List // of *entry[K, V], most recently used first
	byKey map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key   K
	value V
	cost  int64
}

// New returns a cache holding at most max in total cost (nothing when max <= 0).
func New[K comparable, V any](max int64) *Cache[K, V] {
	return &Cache[K, V]{max: max, byKey: map[K]*list.Element{}}
}

// Get returns key's value and marks it most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[K, V]).value, true
}

// Put stores value under key at cost, replacing what key held.
func (c *Cache[K, V]) Put(key K, value V, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(key)
	if c.max <= 0 || cost > c.max {
		return
	}
	c.byKey[key] = c.order.PushFront(&entry[K, V]{key: key, value: value, cost: cost})
	c.held += cost
	for c.held > c.max {
		c.remove(c.order.Back().Value.(*entry[K, V]).key)
	}
}

// Remove forgets key.
func (c *Cache[K, V]) Remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(key)
}

func (c *Cache[K, V]) remove(key K) {
	el, ok := c.byKey[key]
	if !ok {
		return
	}
	c.order.Remove(el)
	delete(c.byKey, key)
	c.held -= el.Value.(*entry[K, V]).cost
}

// Size is the total cost held and the number of entries.
func (c *Cache[K, V]) Size() (cost int64, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held, len(c.byKey)
}
