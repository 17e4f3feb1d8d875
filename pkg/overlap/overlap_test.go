package overlap

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name   string
		prefix netip.Prefix
		want   []string
	}{
		{
			name:   "IPv4 /24 has one exact key and six bucket keys, none at its own length",
			prefix: netip.MustParsePrefix("192.168.7.0/24"),
			want: []string{
				"=192.168.7.0/24",
				"~0.0.0.0/0", "~192.0.0.0/4", "~192.0.0.0/8", "~192.160.0.0/12",
				"~192.168.0.0/16", "~192.168.0.0/20",
			},
		},
		{
			name:   "IPv4 /0 has only its exact key because no stride is shorter",
			prefix: netip.MustParsePrefix("0.0.0.0/0"),
			want:   []string{"=0.0.0.0/0"},
		},
		{
			name:   "IPv4 /4 has its exact key and the root bucket only",
			prefix: netip.MustParsePrefix("16.0.0.0/4"),
			want:   []string{"=16.0.0.0/4", "~0.0.0.0/0"},
		},
		{
			name:   "IPv4 /1 has its exact key and the root bucket",
			prefix: netip.MustParsePrefix("128.0.0.0/1"),
			want:   []string{"=128.0.0.0/1", "~0.0.0.0/0"},
		},
		{
			name:   "IPv4 length between strides gets buckets only up to the shorter stride",
			prefix: netip.MustParsePrefix("10.0.0.0/7"),
			want:   []string{"=10.0.0.0/7", "~0.0.0.0/0", "~0.0.0.0/4"},
		},
		{
			name:   "IPv4 /32 gets buckets up to /28, not at its own length",
			prefix: netip.MustParsePrefix("10.1.2.3/32"),
			want: []string{
				"=10.1.2.3/32",
				"~0.0.0.0/0", "~0.0.0.0/4", "~10.0.0.0/8", "~10.0.0.0/12", "~10.1.0.0/16",
				"~10.1.0.0/20", "~10.1.2.0/24", "~10.1.2.0/28",
			},
		},
		{
			name:   "IPv6 /16 keys are distinct from IPv4 keys",
			prefix: netip.MustParsePrefix("fd00::/16"),
			want:   []string{"=fd00::/16", "~::/0", "~f000::/4", "~fd00::/8", "~fd00::/12"},
		},
		{
			name:   "host bits are masked before computing keys",
			prefix: netip.MustParsePrefix("10.0.0.9/7"),
			want:   []string{"=10.0.0.0/7", "~0.0.0.0/0", "~0.0.0.0/4"},
		},
		{
			name:   "invalid prefix has no keys",
			prefix: netip.Prefix{},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Keys(tt.prefix); !slices.Equal(got, tt.want) {
				t.Fatalf("Keys(%v) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

func TestKeysCount(t *testing.T) {
	tests := []struct {
		name   string
		prefix netip.Prefix
		want   int
	}{
		{"IPv4 /0 has only its exact key", netip.MustParsePrefix("0.0.0.0/0"), 1},
		{"IPv4 /24 has one exact key and six bucket keys", netip.MustParsePrefix("10.0.0.0/24"), 7},
		{"IPv4 /25 has one exact key and seven bucket keys", netip.MustParsePrefix("10.0.0.0/25"), 8},
		{"IPv4 /32 has one exact key and eight bucket keys", netip.MustParsePrefix("10.0.0.1/32"), 9},
		{"IPv6 /0 has only its exact key", netip.MustParsePrefix("::/0"), 1},
		{"IPv6 /128 has one exact key and thirty-two bucket keys", netip.MustParsePrefix("fd00::1/128"), 33},
		{"IPv6 /64 has one exact key and sixteen bucket keys", netip.MustParsePrefix("fd00::/64"), 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(Keys(tt.prefix)); got != tt.want {
				t.Fatalf("len(Keys(%v)) = %d, want %d", tt.prefix, got, tt.want)
			}
		})
	}
}

func TestQueryKeys(t *testing.T) {
	tests := []struct {
		name   string
		prefix netip.Prefix
		want   []string
	}{
		{
			name:   "IPv4 /0 asks for the root bucket and its own exact key",
			prefix: netip.MustParsePrefix("0.0.0.0/0"),
			want:   []string{"~0.0.0.0/0", "=0.0.0.0/0"},
		},
		{
			name:   "IPv4 /6 asks for the /4 bucket and the exact keys of itself and its ancestors",
			prefix: netip.MustParsePrefix("8.0.0.0/6"),
			want: []string{
				"~0.0.0.0/4",
				"=0.0.0.0/0", "=0.0.0.0/1", "=0.0.0.0/2", "=0.0.0.0/3", "=0.0.0.0/4", "=8.0.0.0/5", "=8.0.0.0/6",
			},
		},
		{
			name:   "IPv4 /32 asks for a bucket at its own length and the exact keys of itself and its ancestors",
			prefix: netip.MustParsePrefix("10.1.2.3/32"),
			want: []string{
				"~10.1.2.3/32",
				"=0.0.0.0/0", "=0.0.0.0/1", "=0.0.0.0/2", "=0.0.0.0/3", "=0.0.0.0/4", "=8.0.0.0/5", "=8.0.0.0/6", "=10.0.0.0/7",
				"=10.0.0.0/8", "=10.0.0.0/9", "=10.0.0.0/10", "=10.0.0.0/11", "=10.0.0.0/12", "=10.0.0.0/13", "=10.0.0.0/14", "=10.0.0.0/15",
				"=10.1.0.0/16", "=10.1.0.0/17", "=10.1.0.0/18", "=10.1.0.0/19", "=10.1.0.0/20", "=10.1.0.0/21", "=10.1.0.0/22", "=10.1.2.0/23",
				"=10.1.2.0/24", "=10.1.2.0/25", "=10.1.2.0/26", "=10.1.2.0/27", "=10.1.2.0/28", "=10.1.2.0/29", "=10.1.2.0/30", "=10.1.2.2/31",
				"=10.1.2.3/32",
			},
		},
		{
			name:   "IPv6 /8 asks for its own bucket and the exact keys of itself and its ancestors",
			prefix: netip.MustParsePrefix("fd00::/8"),
			want: []string{
				"~fd00::/8",
				"=::/0", "=8000::/1", "=c000::/2", "=e000::/3", "=f000::/4", "=f800::/5", "=fc00::/6", "=fc00::/7", "=fd00::/8",
			},
		},
		{
			name:   "host bits are masked before computing query keys",
			prefix: netip.MustParsePrefix("8.1.2.3/6"),
			want: []string{
				"~0.0.0.0/4",
				"=0.0.0.0/0", "=0.0.0.0/1", "=0.0.0.0/2", "=0.0.0.0/3", "=0.0.0.0/4", "=8.0.0.0/5", "=8.0.0.0/6",
			},
		},
		{
			name:   "invalid prefix has no query keys",
			prefix: netip.Prefix{},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueryKeys(tt.prefix); !slices.Equal(got, tt.want) {
				t.Fatalf("QueryKeys(%v) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

// index simulates a cache.Indexer with a single index whose values are the
// Keys of every stored prefix.
type index map[string][]netip.Prefix

func buildIndex(prefixes ...netip.Prefix) index {
	idx := index{}
	for _, p := range prefixes {
		for _, k := range Keys(p) {
			idx[k] = append(idx[k], p)
		}
	}
	return idx
}

// lookup does what the controller does: ByIndex for each query key, union.
func (idx index) lookup(p netip.Prefix) map[netip.Prefix]bool {
	found := map[netip.Prefix]bool{}
	for _, k := range QueryKeys(p) {
		for _, q := range idx[k] {
			found[q] = true
		}
	}
	return found
}

// checkSuperset fails the test when a prefix in stored that overlaps query
// is missing from the lookup, or when the lookup crosses IP families.
func checkSuperset(t *testing.T, idx index, query netip.Prefix, stored []netip.Prefix) {
	t.Helper()
	found := idx.lookup(query)
	for _, q := range stored {
		if q.Overlaps(query) && !found[q] {
			t.Fatalf("lookup of %v misses overlapping %v (query keys %q, stored keys %q)", query, q, QueryKeys(query), Keys(q))
		}
	}
	for q := range found {
		if q.Addr().Is4() != query.Addr().Is4() {
			t.Fatalf("lookup of %v returned %v of another family", query, q)
		}
	}
}

// randomPrefix returns a prefix near base: a random number of low address
// bits are randomised and the length is random, so that a pool of them nests
// and overlaps often while also containing disjoint prefixes.
func randomPrefix(r *rand.Rand, base netip.Addr) netip.Prefix {
	b := base.AsSlice()
	bitLen := base.BitLen()
	free := r.IntN(bitLen + 1)
	for i := bitLen - free; i < bitLen; i++ {
		if r.IntN(2) == 1 {
			b[i/8] ^= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, r.IntN(bitLen+1)).Masked()
}

func TestQueryKeysFindEveryOverlap(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 42))
	bases := []netip.Addr{
		netip.MustParseAddr("10.20.30.40"),
		netip.MustParseAddr("192.168.255.1"),
		netip.MustParseAddr("fd00:10:20:30::1"),
		netip.MustParseAddr("2001:db8:ffff::abcd"),
	}
	var stored []netip.Prefix
	for range 3000 {
		stored = append(stored, randomPrefix(r, bases[r.IntN(len(bases))]))
	}
	// One index for both families, as in the controller.
	idx := buildIndex(stored...)

	overlaps, extras := 0, 0
	for range 1500 {
		query := randomPrefix(r, bases[r.IntN(len(bases))])
		checkSuperset(t, idx, query, stored)

		// The caller's filter turns the superset into the exact answer.
		found := idx.lookup(query)
		var want, got []netip.Prefix
		for _, q := range stored {
			if q.Overlaps(query) && !slices.Contains(want, q) {
				want = append(want, q)
			}
		}
		for q := range found {
			if q.Overlaps(query) {
				got = append(got, q)
			} else {
				extras++
			}
		}
		overlaps += len(want)
		if len(got) != len(want) {
			t.Fatalf("filtered lookup of %v found %d prefixes, brute force %d", query, len(got), len(want))
		}
	}
	// Guard the test itself: it must exercise both overlaps and the
	// superset (non-overlapping candidates the caller filters out).
	if overlaps == 0 || extras == 0 {
		t.Fatalf("random data too tame: %d overlaps, %d filtered extras", overlaps, extras)
	}
	t.Logf("%d overlapping matches, %d non-overlapping candidates filtered", overlaps, extras)
}

func TestQueryKeysSupersetPairs(t *testing.T) {
	tests := []struct {
		name  string
		query string
		other string
	}{
		{"a prefix finds itself", "10.0.0.0/24", "10.0.0.0/24"},
		{"a prefix between strides finds itself", "10.0.0.0/23", "10.0.0.0/23"},
		{"IPv4 /0 finds itself", "0.0.0.0/0", "0.0.0.0/0"},
		{"IPv4 /32 finds itself", "10.0.0.1/32", "10.0.0.1/32"},
		{"IPv6 /128 finds itself", "fd00::1/128", "fd00::1/128"},
		{"a prefix at a stride finds a child one bit longer", "10.0.0.0/24", "10.0.0.128/25"},
		{"a prefix at a stride finds its parent one bit shorter", "10.0.0.0/24", "10.0.0.0/23"},
		{"a prefix at a stride finds its parent at the previous stride", "10.0.0.0/24", "10.0.0.0/20"},
		{"a prefix at a stride finds a child at the next stride", "10.0.0.0/24", "10.0.0.16/28"},
		{"a prefix finds a /32 inside it", "10.0.0.0/24", "10.0.0.77/32"},
		{"a prefix finds the /0 that contains it", "10.0.0.0/24", "0.0.0.0/0"},
		{"a prefix between strides finds a child one bit longer", "10.0.0.0/23", "10.0.1.0/24"},
		{"a prefix between strides finds its parent one bit shorter", "10.0.1.0/24", "10.0.0.0/23"},
		{"an IPv6 /64 finds a /127 inside it", "fd00:1::/64", "fd00:1::8/127"},
		{"an IPv6 /65 finds the /63 around it", "fd00:1::8000:0:0:0/65", "fd00:1::/63"},
		{"IPv6 /0 finds an IPv6 /128", "::/0", "fd00::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, o := netip.MustParsePrefix(tt.query), netip.MustParsePrefix(tt.other)
			if !q.Overlaps(o) {
				t.Fatalf("test case broken: %v and %v do not overlap", q, o)
			}
			checkSuperset(t, buildIndex(o), q, []netip.Prefix{o})
		})
	}
}

func TestQueryKeysIgnoreOtherFamily(t *testing.T) {
	tests := []struct {
		name  string
		query string
		other string
	}{
		{"IPv4 /0 does not find IPv6 /0", "0.0.0.0/0", "::/0"},
		{"IPv6 /0 does not find IPv4 /0", "::/0", "0.0.0.0/0"},
		{"IPv6 /0 does not find an IPv4 host", "::/0", "10.0.0.1/32"},
		{"IPv4-mapped IPv6 prefix does not find the IPv4 prefix it maps", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, o := netip.MustParsePrefix(tt.query), netip.MustParsePrefix(tt.other)
			if found := buildIndex(o).lookup(q); len(found) != 0 {
				t.Fatalf("lookup of %v returned %v", q, found)
			}
		})
	}
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func claim(key string, ageSec int, cidr string) Claim {
	return Claim{Key: key, Created: t0.Add(time.Duration(ageSec) * time.Second), Prefix: netip.MustParsePrefix(cidr)}
}

func TestOlder(t *testing.T) {
	tests := []struct {
		name string
		a, b Claim
		want bool
	}{
		{"earlier creation wins", claim("ns/b", 0, "10.0.0.0/8"), claim("ns/a", 1, "10.0.0.0/8"), true},
		{"later creation loses", claim("ns/a", 1, "10.0.0.0/8"), claim("ns/b", 0, "10.0.0.0/8"), false},
		{"equal creation falls back to the smaller key", claim("a/x", 0, "10.0.0.0/8"), claim("b/x", 0, "10.0.0.0/8"), true},
		{"equal creation with the larger key loses", claim("b/x", 0, "10.0.0.0/8"), claim("a/x", 0, "10.0.0.0/8"), false},
		{"a claim is not older than itself", claim("a/x", 0, "10.0.0.0/8"), claim("a/x", 0, "10.0.0.0/8"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Older(tt.a, tt.b); got != tt.want {
				t.Fatalf("Older(%v, %v) = %v, want %v", tt.a.Key, tt.b.Key, got, tt.want)
			}
		})
	}
}

// objectKey is the Key client-go's cache.ObjectName gives namespace/name.
func objectKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func TestPrecedes(t *testing.T) {
	tests := []struct {
		name           string
		created        int
		namespace, obj string
		b              Claim
		want           bool
	}{
		{"earlier creation precedes whatever the names", 0, "zz", "zz", claim("aa/aa", 1, "10.0.0.0/8"), true},
		{"later creation does not precede whatever the names", 2, "aa", "aa", claim("zz/zz", 1, "10.0.0.0/8"), false},
		{"same creation: the smaller key precedes", 1, "a", "x", claim("b/x", 1, "10.0.0.0/8"), true},
		{"same creation: the larger key does not precede", 1, "b", "x", claim("a/x", 1, "10.0.0.0/8"), false},
		{"a claim does not precede itself", 1, "a", "x", claim("a/x", 1, "10.0.0.0/8"), false},
		// Keys compare as whole strings: '-' sorts before '/', so a-b/x is
		// the smaller key although namespace a sorts before a-b.
		{"same creation: namespace a-b precedes namespace a", 1, "a-b", "x", claim("a/x", 1, "10.0.0.0/8"), true},
		{"same creation: namespace a does not precede namespace a-b", 1, "a", "x", claim("a-b/x", 1, "10.0.0.0/8"), false},
		{"same creation: '/' sorts before letters", 1, "a", "x", claim("ab/x", 1, "10.0.0.0/8"), true},
		{"same creation: a key that is a prefix of the other precedes it", 1, "ns", "na", claim("ns/nam", 1, "10.0.0.0/8"), true},
		{"same creation: a key the other is a prefix of does not precede it", 1, "ns", "nam", claim("ns/na", 1, "10.0.0.0/8"), false},
		{"same creation: a longer namespace against a shorter key", 1, "nsx", "a", claim("ns", 1, "10.0.0.0/8"), false},
		{"no namespace: the key is the bare name", 1, "", "a", claim("a/x", 1, "10.0.0.0/8"), true},
		{"no namespace: equal to the bare name", 1, "", "a", claim("a", 1, "10.0.0.0/8"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := t0.Add(time.Duration(tt.created) * time.Second)
			if got := Precedes(created, tt.namespace, tt.obj, tt.b); got != tt.want {
				t.Fatalf("Precedes(%d, %q, %q, %q) = %v, want %v", tt.created, tt.namespace, tt.obj, tt.b.Key, got, tt.want)
			}
			a := Claim{Key: objectKey(tt.namespace, tt.obj), Created: created}
			if older := Older(a, tt.b); older != tt.want {
				t.Fatalf("test case broken: Older(%q, %q) = %v", a.Key, tt.b.Key, older)
			}
		})
	}
}

func TestPrecedesAgreesWithOlder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	// Short names from a small alphabet that holds the characters
	// namespaces and names use and '/', so that prefixes and ties abound.
	word := func() string {
		const alphabet = "ab-./z"
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		namespace, name := word(), word()
		created := t0.Add(time.Duration(r.IntN(2)) * time.Second)
		b := Claim{Key: objectKey(word(), word()), Created: t0.Add(time.Duration(r.IntN(2)) * time.Second)}
		a := Claim{Key: objectKey(namespace, name), Created: created}
		if got, want := Precedes(created, namespace, name, b), Older(a, b); got != want {
			t.Fatalf("Precedes(%v, %q, %q, %q at %v) = %v, Older = %v", created, namespace, name, b.Key, b.Created, got, want)
		}
	}
}

func TestPrecedesDoesNotAllocate(t *testing.T) {
	b := claim("tenant-00042/net", 0, "10.0.0.0/24")
	if allocs := testing.AllocsPerRun(100, func() { Precedes(t0, "tenant-00041", "net", b) }); allocs != 0 {
		t.Fatalf("Precedes allocates %v times per call, want 0", allocs)
	}
}

func TestBlocker(t *testing.T) {
	self := claim("ns/self", 10, "10.1.0.0/16")
	tests := []struct {
		name    string
		self    Claim
		others  []Claim
		want    string
		blocked bool
	}{
		{"no other claims means no blocker", self, nil, "", false},
		{"older overlapping parent blocks", self, []Claim{claim("ns/parent", 5, "10.0.0.0/8")}, "ns/parent", true},
		{"older overlapping child blocks", self, []Claim{claim("ns/child", 5, "10.1.2.0/24")}, "ns/child", true},
		{"older identical prefix blocks", self, []Claim{claim("ns/same", 5, "10.1.0.0/16")}, "ns/same", true},
		{"younger overlapping claim does not block", self, []Claim{claim("ns/young", 20, "10.1.0.0/16")}, "", false},
		{"older disjoint claim does not block", self, []Claim{claim("ns/other", 5, "10.2.0.0/16")}, "", false},
		{"older claim of another family does not block", self, []Claim{claim("ns/v6", 5, "::/0")}, "", false},
		{"own key is ignored even if it looks older", self, []Claim{claim("ns/self", 1, "10.1.0.0/16")}, "", false},
		{"same creation time loses to the smaller key", self, []Claim{claim("ns/a", 10, "10.1.0.0/16")}, "ns/a", true},
		{"same creation time wins against the larger key", self, []Claim{claim("ns/z", 10, "10.1.0.0/16")}, "", false},
		{
			"the oldest of several older overlapping claims is reported", self,
			[]Claim{
				claim("ns/old", 5, "10.1.0.0/24"),
				claim("ns/oldest", 1, "10.0.0.0/8"),
				claim("ns/disjoint-ancient", 0, "10.2.0.0/16"),
				claim("ns/young", 20, "10.1.0.0/16"),
			},
			"ns/oldest", true,
		},
		{
			"an older claim blocks even when it is itself blocked by an even older one",
			claim("ns/c", 10, "10.1.1.0/24"),
			[]Claim{claim("ns/a", 1, "10.0.0.0/16"), claim("ns/b", 5, "10.1.0.0/16")},
			"ns/b", true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, blocked := Blocker(tt.self, tt.others)
			if blocked != tt.blocked || got.Key != tt.want {
				t.Fatalf("Blocker() = %q, %v, want %q, %v", got.Key, blocked, tt.want, tt.blocked)
			}
		})
	}
}

func TestBlockerIsIndependentOfOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	self := claim("ns/self", 50, "10.1.0.0/16")
	others := []Claim{
		claim("ns/a", 3, "10.0.0.0/8"),
		claim("ns/b", 3, "10.1.0.0/24"),
		claim("ns/c", 2, "10.2.0.0/16"),
		claim("ns/d", 60, "10.1.0.0/16"),
		claim("ns/e", 3, "10.1.128.0/17"),
	}
	want, _ := Blocker(self, others)
	if want.Key != "ns/a" {
		t.Fatalf("Blocker() = %q, want ns/a", want.Key)
	}
	for range 50 {
		r.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		if got, _ := Blocker(self, others); got != want {
			t.Fatalf("Blocker() = %q after shuffling, want %q", got.Key, want.Key)
		}
	}
}

func TestOverlapping(t *testing.T) {
	p := netip.MustParsePrefix("10.1.0.0/16")
	tests := []struct {
		name       string
		candidates []Claim
		want       []string
	}{
		{"no candidates gives nothing", nil, nil},
		{
			"disjoint and other-family candidates are dropped",
			[]Claim{claim("ns/a", 1, "10.2.0.0/16"), claim("ns/b", 1, "fd00::/8")},
			nil,
		},
		{
			"overlapping candidates are returned oldest first",
			[]Claim{claim("ns/young", 9, "10.1.2.0/24"), claim("ns/old", 1, "10.0.0.0/8"), claim("ns/mid", 5, "10.1.0.0/16")},
			[]string{"ns/old", "ns/mid", "ns/young"},
		},
		{
			"duplicates from several index keys are returned once",
			[]Claim{claim("ns/a", 1, "10.0.0.0/8"), claim("ns/a", 1, "10.0.0.0/8"), claim("ns/b", 2, "10.1.0.0/16")},
			[]string{"ns/a", "ns/b"},
		},
		{
			"the caller's own key is not excluded",
			[]Claim{claim("ns/self", 1, "10.1.0.0/16")},
			[]string{"ns/self"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Overlapping(p, tt.candidates) {
				got = append(got, c.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Overlapping() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzQueryKeysSuperset(f *testing.F) {
	seeds := [][2]string{
		{"10.0.0.0/8", "10.1.0.0/16"},
		{"10.1.0.0/16", "10.0.0.0/8"},
		{"10.0.0.0/23", "10.0.1.0/24"},
		{"192.168.0.0/16", "192.169.0.0/16"},
		{"0.0.0.0/0", "1.2.3.4/32"},
		{"10.0.0.0/31", "10.0.0.1/32"},
		{"fd00::/8", "fd00:10::/64"},
		{"fd00:10::/64", "fd00::/7"},
		{"fd00::/127", "fd00::1/128"},
		{"::/0", "2001:db8::/32"},
		{"2001:db8::/33", "2001:db8:8000::/34"},
		{"10.0.0.0/8", "fd00::/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"10.0.0.0/24", "10.0.0.0/24"},
		{"10.0.0.0/24", "10.0.0.128/25"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fd00::1/128", "fd00::1/128"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		p, errP := netip.ParsePrefix(a)
		q, errQ := netip.ParsePrefix(b)
		if errP != nil || errQ != nil {
			t.Skip()
		}
		stored := []netip.Prefix{p.Masked(), q.Masked()}
		// A prefix at q's length around p's address always overlaps p, so
		// the property is exercised even when p and q are unrelated.
		if q.Bits() <= p.Addr().BitLen() {
			stored = append(stored, netip.PrefixFrom(p.Addr(), q.Bits()).Masked())
		}
		idx := buildIndex(stored...)
		for _, query := range stored {
			checkSuperset(t, idx, query, stored)
		}
	})
}
