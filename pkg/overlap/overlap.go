// Package overlap finds Networks whose subnets overlap and decides which of
// them keeps its subnet.
//
// Two prefixes of the same family overlap exactly when one contains the
// other. A client-go cache.Indexer can only look up exact string keys, so
// every Network is indexed under Keys of its prefix, and a lookup for prefix p
// asks for each of QueryKeys(p) and unions the results. The union is a
// superset of the overlapping Networks; callers must filter it with
// netip.Prefix.Overlaps (Overlapping does this).
//
// Why this works: a Network q that overlaps p either contains p (including
// q == p), or lies strictly inside p.
//   - If q contains p, q.Bits() <= p.Bits() and q equals p masked to
//     q.Bits(). QueryKeys asks for the exact key of p masked to every length
//     up to and including p.Bits(), so it asks for q's exact key.
//   - If q lies strictly inside p, let L be p.Bits() rounded down to a
//     multiple of Stride. Then L <= p.Bits() < q.Bits(), so L is a multiple
//     of Stride strictly shorter than q and q carries the bucket key of
//     itself masked to L, which equals p masked to L because q is inside p.
//     QueryKeys asks for that bucket.
//
// The edges follow: a /0 carries only its exact key, which every query of
// its family asks for; a query for a /32 (or an IPv6 /128) asks for a
// bucket nothing carries, as nothing lies strictly inside it, and finds
// everything through exact keys.
//
// A prefix carries no bucket key at its own length because that key would
// be unique to it (and to Networks sharing its CIDR) whenever its length is
// a multiple of Stride: a /24 would put a one-element set in the index for
// nothing, as the exact key already finds it. The exact key stays unique;
// the buckets it carries are shared by every prefix of the same
// neighbourhood.
//
// The bucket may also hold prefixes that are inside p masked to L but not
// inside p; they are the superset that the caller filters out. A larger
// Stride means fewer keys per object but more false candidates per bucket.
package overlap

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Stride is the spacing, in prefix bits, of the bucket keys. With 4 an IPv4
// prefix gets at most 8 bucket keys and an IPv6 one at most 32, while a
// query's bucket is at most 3 bits wider than the query itself.
const Stride = 4

// Key prefixes keep exact keys and bucket keys apart in a single index, so
// the controller needs only one indexer function.
const (
	exactMark  = "="
	bucketMark = "~"
)

// Keys returns the index keys of a Network whose subnet is p: its exact key
// and one bucket key for every multiple of Stride strictly shorter than p.
// The prefix is masked first so that the keys do not depend on host bits.
// An invalid prefix has no keys, so Networks without a usable subnet are
// simply absent from the index.
func Keys(p netip.Prefix) []string {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	buckets := (p.Bits() + Stride - 1) / Stride
	keys := make([]string, 0, 1+buckets)
	keys = append(keys, exactMark+p.String())
	for l := 0; l < p.Bits(); l += Stride {
		keys = append(keys, bucketMark+netip.PrefixFrom(p.Addr(), l).Masked().String())
	}
	return keys
}

// QueryKeys returns the index keys to look up to find every Network whose
// subnet overlaps p: the bucket of p rounded down to a multiple of Stride,
// which holds everything strictly inside p, and the exact key of p and of
// every strict ancestor of p. The result is a superset: callers must filter
// the Networks found with netip.Prefix.Overlaps. An invalid prefix has no
// keys.
func QueryKeys(p netip.Prefix) []string {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	keys := make([]string, 0, 1+p.Bits()+1)
	l := p.Bits() / Stride * Stride
	keys = append(keys, bucketMark+netip.PrefixFrom(p.Addr(), l).Masked().String())
	for l := 0; l <= p.Bits(); l++ {
		keys = append(keys, exactMark+netip.PrefixFrom(p.Addr(), l).Masked().String())
	}
	return keys
}

// Claim is a Network's claim on a subnet, carrying what the winner rule
// needs and nothing else so that it can be built from a cache entry cheaply.
type Claim struct {
	// Key is the Network's namespace/name, the tie breaker and identity.
	Key string
	// Created is the Network's creation timestamp; older claims win.
	Created time.Time
	// Prefix is the Network's subnet.
	Prefix netip.Prefix
}

// Older reports whether a takes precedence over b: the earlier creation time
// wins and, because API server timestamps have only second resolution, equal
// times fall back to the lexically smaller key so the order is total and
// every controller replica agrees.
func Older(a, b Claim) bool {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c < 0
	}
	return a.Key < b.Key
}

// Precedes reports whether the Network namespace/name created at created is
// Older than b, without building its Key: it is Older(a, b) for the claim a
// whose Key is namespace+"/"+name (just name when namespace is empty, as
// client-go's cache.ObjectName writes it). The controller asks it of every
// candidate the index returns, most of which lose at once on their creation
// time, so it must not allocate.
func Precedes(created time.Time, namespace, name string, b Claim) bool {
	if c := created.Compare(b.Created); c != 0 {
		return c < 0
	}
	return compareKey(namespace, name, b.Key) < 0
}

// compareKey compares the Key of namespace/name with key, as
// strings.Compare would compare the two strings.
func compareKey(namespace, name, key string) int {
	parts := [...]string{namespace, "/", name}
	if namespace == "" {
		parts = [...]string{"", "", name}
	}
	for _, part := range parts {
		n := min(len(part), len(key))
		if c := strings.Compare(part[:n], key[:n]); c != 0 {
			return c
		}
		if n < len(part) {
			// key is a proper prefix of namespace/name.
			return 1
		}
		key = key[n:]
	}
	if key != "" {
		return -1
	}
	return 0
}

// Blocker returns the oldest claim in others that overlaps self.Prefix and is
// Older than self, and false when there is none. Claims with self's own Key
// are ignored (the cache may hand back the object being reconciled), and
// claims of another IP family never overlap.
//
// A Network loses to any older overlapping Network, whatever that Network's
// own state, even if it is itself blocked by something older still. This is
// deliberately simple: the outcome for a Network depends only on the set of
// claims, not on the order of reconciles, so there are no cascades where
// deleting one Network flips the state of a chain of others.
func Blocker(self Claim, others []Claim) (Claim, bool) {
	var best Claim
	found := false
	for _, o := range others {
		if o.Key == self.Key || !o.Prefix.Overlaps(self.Prefix) || !Older(o, self) {
			continue
		}
		if !found || Older(o, best) {
			best, found = o, true
		}
	}
	return best, found
}

// Overlapping returns the candidates whose prefix overlaps p, oldest first
// (by Older), with duplicate keys removed, keeping the first overlapping occurrence. It
// turns the union of index lookups for QueryKeys(p), which may contain the
// same Network several times and Networks that do not overlap, into the
// exact answer. It excludes nothing else: a candidate with the caller's own
// key is returned if it overlaps.
func Overlapping(p netip.Prefix, candidates []Claim) []Claim {
	var out []Claim
	seen := make(map[string]bool, len(candidates))
	for _, c := range candidates {
		if seen[c.Key] || !c.Prefix.Overlaps(p) {
			continue
		}
		seen[c.Key] = true
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Claim) int {
		if Older(a, b) {
			return -1
		}
		if Older(b, a) {
			return 1
		}
		return 0
	})
	return out
}
