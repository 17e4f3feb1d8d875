// Package tenancytest holds the one table of allowance cases that both
// checks of the rule must agree on: pkg/tenancy's Go check (its unit test)
// and the ValidatingAdmissionPolicy's CEL (an integration test against a
// real API server). A case added here is checked on both sides.
package tenancytest

import "strings"

// Case is a Namespace annotation and a Network's spec.cidr.
type Case struct {
	Name string
	// Annotated says whether the Namespace has the annotation at all.
	Annotated bool
	// Allowance is the annotation's value.
	Allowance string
	CIDR      string
	// Permitted is the verdict both checks must reach.
	Permitted bool
}

// Cases are the allowance cases, IPv4 and IPv6, with the edge cases of
// parsing that CEL and Go could disagree on.
var Cases = []Case{
	{Name: "a namespace without the annotation may use nothing (secure default)", CIDR: "10.20.0.0/24"},
	{Name: "a CIDR inside the allowance is permitted", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "10.20.1.0/24", Permitted: true},
	{Name: "the allowance itself is permitted", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "10.20.0.0/16", Permitted: true},
	{Name: "a CIDR wider than the allowance is refused", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "10.0.0.0/8"},
	{Name: "the squatter's 0.0.0.0/0 is refused", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "0.0.0.0/0"},
	{Name: "a CIDR beside the allowance is refused", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "10.21.0.0/24"},
	{Name: "an IPv6 CIDR inside the IPv6 entry is permitted", Annotated: true, Allowance: "10.20.0.0/16, fd00:20::/48", CIDR: "fd00:20:0:1::/64", Permitted: true},
	{Name: "the squatter's ::/0 is refused", Annotated: true, Allowance: "10.20.0.0/16, fd00:20::/48", CIDR: "::/0"},
	{Name: "an IPv6 CIDR is not inside an IPv4 allowance", Annotated: true, Allowance: "10.20.0.0/16", CIDR: "fd00::/64"},
	{Name: "an IPv4 CIDR is not inside ::/0", Annotated: true, Allowance: "::/0", CIDR: "10.0.0.0/8"},
	{Name: "0.0.0.0/0 as an allowance permits every IPv4 CIDR", Annotated: true, Allowance: "0.0.0.0/0", CIDR: "10.0.0.0/8", Permitted: true},
	{Name: "spaces around entries are ignored", Annotated: true, Allowance: "  10.20.0.0/16 ,   10.30.0.0/16  ", CIDR: "10.30.5.0/24", Permitted: true},
	{Name: "an entry with host bits set counts as its network", Annotated: true, Allowance: "10.20.0.1/16", CIDR: "10.20.5.0/24", Permitted: true},
	{Name: "an allowance that is not a CIDR is refused", Annotated: true, Allowance: "banana", CIDR: "10.20.0.0/24"},
	{Name: "one bad entry spoils the allowance, even beside a good one", Annotated: true, Allowance: "banana, 10.20.0.0/16", CIDR: "10.20.0.0/24"},
	{Name: "an empty allowance is refused", Annotated: true, Allowance: "", CIDR: "10.20.0.0/24"},
	{Name: "an empty entry is refused", Annotated: true, Allowance: "10.20.0.0/16,", CIDR: "10.20.0.0/24"},
	{Name: "an IPv4-mapped IPv6 entry is not a CIDR", Annotated: true, Allowance: "::ffff:10.0.0.0/104", CIDR: "10.0.0.0/24"},
	{Name: "an allowance over 4096 bytes is refused, even when it would contain the CIDR", Annotated: true, Allowance: strings.Repeat("10.20.0.0/16, ", 300) + "10.20.0.0/16", CIDR: "10.20.0.0/24"},
	// Whitespace is Unicode's on both sides (Go's strings.TrimSpace, which
	// CEL's trim() calls), not only ASCII's.
	{Name: "ideographic and no-break spaces around an entry are whitespace", Annotated: true, Allowance: "\u3000 10.20.0.0/16\u00a0,\u0085fd00:20::/48\u3000", CIDR: "fd00:20::/64", Permitted: true},
	{Name: "a zero-width space is not whitespace, so the entry is not a CIDR", Annotated: true, Allowance: "10.20.0.0/16\u200b", CIDR: "10.20.0.0/24"},
	// The size cap counts bytes on both sides, not characters: an entry
	// padded with three-byte spaces is 4096 bytes but far fewer characters.
	{Name: "an allowance of exactly 4096 bytes padded with multi-byte spaces is permitted", Annotated: true, Allowance: multiBytePadded(4096), CIDR: "10.20.0.0/24", Permitted: true},
	{Name: "an allowance of 4097 bytes but 1375 characters is refused: the cap counts bytes", Annotated: true, Allowance: multiBytePadded(4097), CIDR: "10.20.0.0/24"},
}

// multiBytePadded returns the allowance "10.20.0.0/16" padded with
// ideographic spaces (U+3000, three bytes each) and then ASCII spaces to
// exactly size bytes.
func multiBytePadded(size int) string {
	const entry, wide = "10.20.0.0/16", "\u3000"
	n := (size - len(entry)) / len(wide)
	return entry + strings.Repeat(wide, n) + strings.Repeat(" ", size-len(entry)-n*len(wide))
}
