package pipeline

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// byteSet is a set of bytes.
type byteSet [4]uint64

func (s *byteSet) add(b byte)     { s[b>>6] |= 1 << (b & 63) }
func (s byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s byteSet) and(t byteSet) byteSet {
	return byteSet{s[0] & t[0], s[1] & t[1], s[2] & t[2], s[3] & t[3]}
}
func (s byteSet) or(t byteSet) byteSet {
	return byteSet{s[0] | t[0], s[1] | t[1], s[2] | t[2], s[3] | t[3]}
}

// requiredBytes returns the ASCII bytes that every match of re contains,
// as they are (a letter matched case-insensitively counts for none), and
// "" where it finds none. A subject without one of them cannot match: the
// search is spared a regexp run on most mail, whose subject names no
// ticket.
func requiredBytes(re *regexp.Regexp) string {
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return ""
	}
	set := required(tree.Simplify())
	var b strings.Builder
	for c := range 128 {
		if set.has(byte(c)) {
			b.WriteByte(byte(c))
		}
	}
	return b.String()
}

// required is the set of bytes every match of re contains.
func required(re *syntax.Regexp) byteSet {
	var set byteSet
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r < 128 && (re.Flags&syntax.FoldCase == 0 || unicode.SimpleFold(r) == r) {
				set.add(byte(r))
			}
		}
	case syntax.OpCharClass:
		// A class of one ASCII character is that character.
		if len(re.Rune) == 2 && re.Rune[0] == re.Rune[1] && re.Rune[0] < 128 {
			set.add(byte(re.Rune[0]))
		}
	case syntax.OpCapture, syntax.OpPlus:
		set = required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			set = required(re.Sub[0])
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			set = set.or(required(sub))
		}
	case syntax.OpAlternate:
		for i, sub := range re.Sub {
			if i == 0 {
				set = required(sub)
			} else {
				set = set.and(required(sub))
			}
		}
	}
	return set
}

// mayMatch says whether subject has all of need, the bytes a match needs.
func mayMatch(need, subject string) bool {
	for i := 0; i < len(need); i++ {
		if strings.IndexByte(subject, need[i]) < 0 {
			return false
		}
	}
	return true
}
