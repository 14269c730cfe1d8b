package mapper

import (
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// parseDateSlow is parseDate without its common layouts: obsolete zones
// replaced, then mail.ParseDate alone.
func parseDateSlow(v string) (time.Time, error) {
	v = numericZone(v)
	if v == "" {
		return time.Time{}, mail.ErrHeaderNotPresent
	}
	return mail.ParseDate(v)
}

// fastDate reports whether one of commonDateLayouts reads v as parseDate
// hands it over.
func fastDate(v string) bool {
	v = numericZone(v)
	for _, layout := range commonDateLayouts {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

// sameDate reports whether two parses agree in instant, wall clock, zone
// name, offset and error text.
func sameDate(t1 time.Time, err1 error, t2 time.Time, err2 error) bool {
	if (err1 == nil) != (err2 == nil) {
		return false
	}
	if err1 != nil {
		return err1.Error() == err2.Error()
	}
	n1, o1 := t1.Zone()
	n2, o2 := t2.Zone()
	return t1.Equal(t2) && n1 == n2 && o1 == o2 &&
		t1.Format(time.RFC3339Nano) == t2.Format(time.RFC3339Nano) &&
		t1.Location().String() == t2.Location().String()
}

var datePieces = [][]string{
	{"", "", "Mon, ", "Thu, ", "Sun, ", "mon, ", "THU, ", "Mon,", "Mon , ", "Monday, ", "Xyz, ", "Mon ", "(c) Mon, "},
	{"1", "01", "2", "9", "28", "29", "30", "31", "32", "0", "00", "001", " 2", "-1"},
	{" "},
	{"Jan", "Feb", "feb", "MAR", "Dec", "Foo", "January", "Ja"},
	{" "},
	{"2006", "2024", "1969", "1900", "0001", "9999", "06", "99", "70", "69", "00", "206", "20066", "+2006"},
	{" "},
	{"15:04:05", "00:00:00", "23:59:59", "23:59:60", "24:00:00", "25:00:00", "23:60:00", "15:04",
		"15:04:05.123", "15:04:05,5", "9:04:05", "15:4:05", "15:04:5", "15:04:05.", "1:2:3"},
	{" ", " ", " ", "  ", "\t", "\r\n ", ""},
	{"-0700", "+0000", "-0000", "+0100", "+1400", "-1200", "+9959", "+9999", "+2400", "+0060",
		"-07:00", "+070", "+07000", "UT", "GMT", "EST", "est", "PDT", "Z", "CET", "MEZ", "XYZT", "A", ""},
	{"", "", "", "", " (UTC)", "(UTC)", " (Coordinated Universal Time)", " (unclosed", " (a (nested) c)",
		" x", " ", "  ", "\r\n", " (CET)\r\n"},
}

func genDate(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(20) == 0 {
		b.WriteString(" ")
	}
	// Each set starts with three well-formed pieces, picked half the time
	// so that whole dates are readable often enough.
	for _, set := range datePieces {
		if r.IntN(2) == 0 {
			b.WriteString(set[r.IntN(min(3, len(set)))])
		} else {
			b.WriteString(set[r.IntN(len(set))])
		}
	}
	return b.String()
}

// The common layouts tried first give what mail.ParseDate alone gives, on a
// generated set of valid and broken dates.
func TestParseDateCommonLayouts(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 20000
	}
	r := rand.New(rand.NewPCG(18, 5322))
	var fast, slowOK, failed int
	for range n {
		v := genDate(r)
		t1, err1 := parseDate(v)
		t2, err2 := parseDateSlow(v)
		if !sameDate(t1, err1, t2, err2) {
			t.Fatalf("parseDate(%q) = %v, %v; mail.ParseDate gives %v, %v", v, t1, err1, t2, err2)
		}
		switch {
		case fastDate(v):
			fast++
		case err2 == nil:
			slowOK++
		default:
			failed++
		}
	}
	t.Logf("generated dates: %d on a common layout, %d read by mail.ParseDate, %d unreadable", fast, slowOK, failed)
	// The set must reach all three paths to show anything.
	if fast < n/100 || slowOK < n/100 || failed < n/100 {
		t.Fatalf("generated dates: %d on a common layout, %d read by mail.ParseDate, %d unreadable", fast, slowOK, failed)
	}
}

func FuzzParseDate(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 64 {
		f.Add(genDate(r))
	}
	f.Add("Mon, 2 Jan 2006 15:04:05 -0700")
	f.Add("2 Jan 2006 15:04:05 +0000 (UTC)")
	f.Add("Thu, 20 Nov 1997 09:55:06 MDT")
	f.Fuzz(func(t *testing.T, v string) {
		t1, err1 := parseDate(v)
		t2, err2 := parseDateSlow(v)
		if !sameDate(t1, err1, t2, err2) {
			t.Fatalf("parseDate(%q) = %v, %v; mail.ParseDate gives %v, %v", v, t1, err1, t2, err2)
		}
	})
}
