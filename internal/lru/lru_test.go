package lru

import "testing"

func TestCountBound(t *testing.T) {
	c := New[string, int](3)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i, 1)
	}
	c.Get("a") // a is now the most recently used: b goes first
	c.Put("d", 3, 1)
	if _, ok := c.Get("b"); ok {
		t.Error("b was kept: expected the least recently used entry dropped past the bound")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s was dropped: expected it kept", k)
		}
	}
	if cost, n := c.Size(); cost != 3 || n != 3 {
		t.Errorf("Size() = %d, %d; want 3, 3", cost, n)
	}
}

func TestCostBound(t *testing.T) {
	c := New[string, string](100)
	c.Put("a", "x", 60)
	c.Put("b", "y", 30)
	c.Put("c", "z", 50) // 140 > 100: a goes
	if _, ok := c.Get("a"); ok {
		t.Error("a kept past the cost bound")
	}
	if cost, n := c.Size(); cost != 80 || n != 2 {
		t.Errorf("Size() = %d, %d; want 80, 2", cost, n)
	}
	c.Put("huge", "w", 101)
	if _, ok := c.Get("huge"); ok {
		t.Error("an entry costing more than the bound alone was kept")
	}
	if cost, _ := c.Size(); cost != 80 {
		t.Errorf("an over-bound entry changed what is held: %d, want 80", cost)
	}
}

func TestReplaceAndRemove(t *testing.T) {
	c := New[int, string](10)
	c.Put(1, "old", 4)
	c.Put(1, "new", 6)
	if v, _ := c.Get(1); v != "new" {
		t.Errorf("Get(1) = %q, want new", v)
	}
	if cost, n := c.Size(); cost != 6 || n != 1 {
		t.Errorf("a replaced entry is counted twice: Size() = %d, %d", cost, n)
	}
	c.Remove(1)
	if cost, n := c.Size(); cost != 0 || n != 0 {
		t.Errorf("after Remove: Size() = %d, %d", cost, n)
	}
	z := New[int, int](0)
	z.Put(1, 1, 0)
	if _, ok := z.Get(1); ok {
		t.Error("a cache bounded at 0 kept an entry")
	}
}
