package mediatype

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// simpleCases are values parseSimple takes, and what they parse to.
var simpleCases = []struct {
	in     string
	mtype  string
	params map[string]string
}{
	{"text/plain", "text/plain", map[string]string{}},
	{"text/plain; charset=utf-8", "text/plain", map[string]string{"charset": "utf-8"}},
	{"TEXT/HTML;CHARSET=\"UTF-8\"", "text/html", map[string]string{"charset": "UTF-8"}},
	{"multipart/alternative; boundary=\"----=_Part_1_2.3\"", "multipart/alternative", map[string]string{"boundary": "----=_Part_1_2.3"}},
	{"application/pdf; name=\"Invoice 12.pdf\";\tx-mac-type=504446", "application/pdf", map[string]string{"name": "Invoice 12.pdf", "x-mac-type": "504446"}},
	{"attachment; filename=\"\"", "attachment", map[string]string{"filename": ""}},
}

func TestParseSimple(t *testing.T) {
	for _, c := range simpleCases {
		mtype, params, ok := parseSimple(c.in)
		if !ok || mtype != c.mtype || !reflect.DeepEqual(params, c.params) {
			t.Errorf("parseSimple(%q) = %q, %v, %v; want %q, %v, true", c.in, mtype, params, ok, c.mtype, c.params)
		}
	}
	for _, in := range []string{
		"", " ", "text/", "/plain", "text/plain/x", "text/plain;", "text/plain ; charset=utf-8",
		"text/plain; charset = utf-8", "text/plain; charset=utf-8 ", "text/plain; charset=",
		"text/plain; name*=utf-8''a%20b", "text/plain; name=\"a\\\"b\"", "text/plain; name=\"a;b\"",
		"text/plain; name=\"a\"b", "text/plain; name=\"a", "text/plain; charset=utf-8; CHARSET=latin1",
		"text/plain; name=é", "attachment; filename=\"=?UTF-8?B?w6Q=?=\"", "text/plain; name=\"é\"", "text/plain charset=utf-8",
		"x-not-a-mime-type/x-not-a-mime-type", "text/plain; name=a b", "text/plain<br>",
	} {
		if mtype, params, ok := parseSimple(in); ok {
			t.Errorf("parseSimple(%q) = %q, %v, true; want it left to the repairs", in, mtype, params)
		}
	}
}

// TestParseSimpleAgreesWithRepairs checks that whatever parseSimple takes,
// the repairs' path parses the same, on values built of the pieces real
// and broken headers are made of.
func TestParseSimpleAgreesWithRepairs(t *testing.T) {
	for _, c := range simpleCases {
		checkAgrees(t, c.in)
	}
	types := []string{"text/plain", "TEXT/Html", "multipart/mixed", "application/octet-stream", "attachment",
		"inline", "x-not-a-mime-type/x-not-a-mime-type", "text/", "/", "", "a/b/c", "text/plain<br>"}
	seps := []string{";", "; ", ";\t", " ;", " ", "\t", "\r\n ", ";;", ""}
	names := []string{"charset", "CHARSET", "name", "filename", "boundary", "format", "name*", "name*0", "x-y.z",
		"", "a b", "=?utf-8?q?n?=", "é", "(c)"}
	eqs := []string{"=", " =", "= ", ""}
	values := []string{"utf-8", "us-ascii", "\"utf-8\"", "\"a b\"", "\"----=_Part_1_2.3\"", "\"\"", "\"",
		"\"a\\\"b\"", "a b", "flowed", "é", "\xe9", "a/b", "=?utf-8?q?x?=", "\"=?UTF-8?B?w6Q=?=\"",
		"\"=?UTF-8?B?U3BlaXNla2FydGVfRnLDvGhsaW5nLnBkZg====?=\"", "<br>", "(c)", "@", ",", ":", "[", "]",
		"?", "'", "%20", "*", "\x00", "\x7f", "~", "\"a;b\"", "\"a\"b", "\"a=b\"", ""}
	pick := func(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for range 300000 {
		var b strings.Builder
		b.WriteString(pick(rng, types))
		for range rng.IntN(4) {
			b.WriteString(pick(rng, seps))
			b.WriteString(pick(rng, names))
			b.WriteString(pick(rng, eqs))
			b.WriteString(pick(rng, values))
		}
		if checkAgrees(t, b.String()) {
			taken++
		}
		if t.Failed() {
			return
		}
	}
	if taken < 1000 {
		t.Errorf("parseSimple took only %d of the values built", taken)
	}
}

// FuzzParseSimple checks the same on whatever the fuzzer builds.
func FuzzParseSimple(f *testing.F) {
	for _, c := range simpleCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAgrees(t, s) })
}

// checkAgrees reports whether parseSimple took s, and fails t if the
// repairs' path parses s otherwise, with either option.
func checkAgrees(t *testing.T, s string) bool {
	t.Helper()
	mtype, params, ok := parseSimple(s)
	if !ok {
		return false
	}
	for _, opts := range []ParseOptions{{}, {StripMediaTypeInvalidCharacters: true}} {
		rtype, rparams, invalid, err := parseRepaired(s, opts)
		if err != nil || invalid != nil || rtype != mtype || !reflect.DeepEqual(rparams, params) {
			t.Errorf("%q: parseSimple: %q %v; repairs (%+v): %q %v %v %v", s, mtype, params, opts, rtype, rparams, invalid, err)
		}
	}
	return true
}

// An empty value (an absent header) parses as the repairs parse it, to
// nothing, and costs no allocation.
func TestParseEmpty(t *testing.T) {
	for _, o := range []ParseOptions{{}, {StripMediaTypeInvalidCharacters: true}} {
		mtype, params, invalid, err := ParseWithOptions("", o)
		wm, wp, wi, we := parseRepaired("", o)
		if mtype != wm || !reflect.DeepEqual(params, wp) || !reflect.DeepEqual(invalid, wi) || (err == nil) != (we == nil) {
			t.Errorf("%+v: %q %v %v %v; the repairs give %q %v %v %v", o, mtype, params, invalid, err, wm, wp, wi, we)
		}
		if n := testing.AllocsPerRun(10, func() { _, _, _, _ = ParseWithOptions("", o) }); n != 0 {
			t.Errorf("%+v: %v allocations", o, n)
		}
	}
}
