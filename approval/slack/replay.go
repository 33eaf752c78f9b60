package slack

import (
	"sync"
	"time"
)

// replayGuard remembers the (timestamp, signature) pairs of requests that
// passed verification, for as long as their timestamp is inside the
// acceptance window; a second request with the same pair is a replay.
// Slack's signature only proves that Slack sent a body once, within five
// minutes; without this, whoever captured a click could resend it.
//
// Memory is bounded by capacity. When it is full of unexpired entries the
// oldest are forgotten: a replay of one of those would then pass here, and
// meets the recorder's idempotency (the Approval's deterministic name)
// instead, which is why this is a first line, not the only one.
type replayGuard struct {
	mu       sync.Mutex
	window   time.Duration
	capacity int
	expiry   map[string]time.Time
	order    []string // insertion order, for eviction
}

func newReplayGuard(window time.Duration, capacity int) *replayGuard {
	return &replayGuard{window: window, capacity: capacity, expiry: map[string]time.Time{}}
}

// first records key for a request stamped at ts and reports whether it is
// new.
func (g *replayGuard) first(key string, ts, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if exp, ok := g.expiry[key]; ok && now.Before(exp) {
		return false
	}
	if len(g.expiry) >= g.capacity {
		g.prune(now)
	}
	for len(g.expiry) >= g.capacity && len(g.order) > 0 {
		delete(g.expiry, g.order[0])
		g.order = g.order[1:]
	}
	g.expiry[key] = ts.Add(g.window)
	g.order = append(g.order, key)
	return true
}

// prune drops expired entries; callers hold mu.
func (g *replayGuard) prune(now time.Time) {
	kept := g.order[:0]
	for _, k := range g.order {
		if now.Before(g.expiry[k]) {
			kept = append(kept, k)
		} else {
			delete(g.expiry, k)
		}
	}
	g.order = kept
}
