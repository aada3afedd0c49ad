package facts

import (
	"container/list"
	"sync"
)

// cacheKey names one cached answer: a set member, a hash fact or a
// context hash. Its strings are those the caller passed, so a lookup
// builds no key text.
type cacheKey struct {
	kind         byte
	name, key, m string
}

const (
	kSet     byte = 's'
	kHash    byte = 'h'
	kContext byte = 'c'
)

// answer is what the remote store said, or what this process wrote.
type answer struct {
	present bool
	// expiry is the fact's expiry in event time (Unix ns); at, of a
	// hash fact, when it was written.
	expiry, at int64
	value      string
	fields     map[string]string
}

type cacheEntry struct {
	k   cacheKey
	a   answer
	at  int64 // wall time of the fetch (Unix ns), for the cache's TTL
	siz int64
}

// cache is a bounded LRU of answers with a time to live in wall time: it
// bounds how stale another process's writes may look, and its size in
// entries and bytes.
type cache struct {
	mu         sync.Mutex
	m          map[cacheKey]*list.Element
	lru        list.List
	ttl        int64
	maxEntries int
	maxBytes   int64
	bytes      int64
}

func newCache(ttl int64, maxEntries int, maxBytes int64) *cache {
	return &cache{m: map[cacheKey]*list.Element{}, ttl: ttl, maxEntries: maxEntries, maxBytes: maxBytes}
}

// get returns a fresh answer for k at wall time now.
func (c *cache) get(k cacheKey, now int64) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if now-e.at >= c.ttl {
		c.remove(el)
		return answer{}, false
	}
	c.lru.MoveToFront(el)
	return e.a, true
}

// put stores an answer fetched (or written) at wall time now.
func (c *cache) put(k cacheKey, a answer, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, a, now)
}

func (c *cache) putLocked(k cacheKey, a answer, now int64) {
	siz := int64(96 + len(k.name) + len(k.key) + len(k.m) + len(a.value))
	for f, v := range a.fields {
		siz += int64(32 + len(f) + len(v))
	}
	if el, ok := c.m[k]; ok {
		e := el.Value.(*cacheEntry)
		c.bytes += siz - e.siz
		e.a, e.at, e.siz = a, now, siz
		c.lru.MoveToFront(el)
	} else {
		c.m[k] = c.lru.PushFront(&cacheEntry{k: k, a: a, at: now, siz: siz})
		c.bytes += siz
	}
	for c.lru.Len() > 0 && (c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes) {
		c.remove(c.lru.Back())
	}
}

// update applies fn to the cached answer of k (the zero answer when none)
// and stores the result: how a write reaches this process's reads at once.
func (c *cache) update(k cacheKey, now int64, fn func(a answer, cached bool) answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var a answer
	el, ok := c.m[k]
	if ok {
		a = el.Value.(*cacheEntry).a
	}
	c.putLocked(k, fn(a, ok), now)
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.m, e.k)
	c.bytes -= e.siz
}

func (c *cache) size() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.lru.Len()), c.bytes
}
