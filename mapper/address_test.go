package mapper

import (
	"strings"
	"testing"
	"time"
	"unicode"
)

// addrCases are address headers as real mailers write them, each with the
// addresses (name|address) that must be kept and the number of entries
// that must be dropped as unreadable.
var addrCases = []struct {
	name, raw string
	want      []string
	dropped   int
}{
	{"plain", `alice@example.com`, []string{"|alice@example.com"}, 0},
	{"angle only", `<alice@example.com>`, []string{"|alice@example.com"}, 0},
	{"encoded name with comma (Exchange)", `=?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <Bernd.Mueller@example.com>`,
		[]string{"Müller, Bernd|Bernd.Mueller@example.com"}, 0},
	{"Q-encoded name with comma, then another", `=?iso-8859-1?Q?M=FCller=2C_Bernd?= <bernd@example.com>, "Kohl, Max" <kohl@example.com>`,
		[]string{"Müller, Bernd|bernd@example.com", "Kohl, Max|kohl@example.com"}, 0},
	{"encoded word inside quotes (Outlook)", `"=?utf-8?Q?M=C3=BCller=2C_Bernd?=" <bernd@example.com>`,
		[]string{"Müller, Bernd|bernd@example.com"}, 0},
	{"encoded name with comma in a broken list", `=?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <bernd@example.com>; "x" <>`,
		[]string{"Müller, Bernd|bernd@example.com"}, 1},
	{"empty angle address", `"Support Team" <>, kohl@example.com`, []string{"|kohl@example.com"}, 1},
	{"8-bit address", "M\xfcller@example.com, kohl@example.com", []string{"|kohl@example.com"}, 1},
	{"brackets and bar in name", `Max Kohl | [example.com] <kohl@example.com>, anna@example.org`,
		[]string{"Max Kohl | [example.com]|kohl@example.com", "|anna@example.org"}, 0},
	{"comment as name", `kohl@example.com (Max Kohl)`, []string{"Max Kohl|kohl@example.com"}, 0},
	{"comment name in a broken list", `kohl@example.com (Max Kohl); Anna <anna@example.org>`,
		[]string{"Max Kohl|kohl@example.com", "Anna|anna@example.org"}, 0},
	{"no angle brackets", `Big Bug bb@example.com`, []string{"Big Bug|bb@example.com"}, 0},
	{"unbalanced quote", `"Kohl, Max <kohl@example.com>, anna@example.org`,
		[]string{"Kohl, Max|kohl@example.com", "|anna@example.org"}, 0},
	{"unbalanced quote, no address after it", `kohl@example.com, "Anna`, []string{"|kohl@example.com"}, 1},
	{"unbalanced quote pairing with the next entry's", `"Kohl, Max <kohl@example.com>, "Anna Schön" <anna@example.org>`,
		[]string{"Kohl, Max|kohl@example.com", "Anna Schön|anna@example.org"}, 0},
	{"unbalanced quotes that net/mail pairs", `"Kohl, Max <kohl@example.com>, "Anna <anna@example.org>`,
		[]string{"Kohl, Max|kohl@example.com", "Anna|anna@example.org"}, 0},
	{"unbalanced quote, one entry", `"Max Kohl <kohl@example.com>`, []string{"Max Kohl|kohl@example.com"}, 0},
	{"trailing comma", `kohl@example.com, `, []string{"|kohl@example.com"}, 0},
	{"semicolons (Outlook)", `kohl@example.com; anna@example.org;`, []string{"|kohl@example.com", "|anna@example.org"}, 0},
	{"empty group", `undisclosed-recipients:;`, nil, 0},
	{"empty group then address", `undisclosed-recipients:; kohl@example.com`, []string{"|kohl@example.com"}, 0},
	{"group with members", `Team: kohl@example.com, Anna <anna@example.org>;`,
		[]string{"|kohl@example.com", "Anna|anna@example.org"}, 0},
	{"single quotes (Outlook)", `'Max Kohl' <kohl@example.com>`, []string{"Max Kohl|kohl@example.com"}, 0},
	{"single quotes around a comma (Outlook)", `'Kohl, Max' <kohl@example.com>; 'Service' <service@example.net>`,
		[]string{"Kohl, Max|kohl@example.com", "Service|service@example.net"}, 0},
	{"apostrophes", `Pat O'Neil <pat@example.com>, 'Tom O'Brien' <tom@example.com>, Ann D'Arcy <ann@example.com>`,
		[]string{"Pat O'Neil|pat@example.com", "Tom O'Brien|tom@example.com", "Ann D'Arcy|ann@example.com"}, 0},
	{"double-quoted single quotes (Exchange)", `"'Dorn, Daniel'" <daniel@example.org>`, []string{"Dorn, Daniel|daniel@example.org"}, 0},
	{"single-quoted address", `'kohl@example.com' <kohl@example.com>, 'anna@example.org'`,
		[]string{"kohl@example.com|kohl@example.com", "|anna@example.org"}, 0},
	{"raw UTF-8 name", `"Jürgen Müller" <jm@example.org>`, []string{"Jürgen Müller|jm@example.org"}, 0},
	{"raw Latin-1 name", "\"J\xfcrgen M\xfcller\" <jm@example.org>, kohl@example.com",
		[]string{"Jürgen Müller|jm@example.org", "|kohl@example.com"}, 0},
	{"raw Windows-1252 name", "\x93Anna\x94 M\xfcller <anna@example.org>", []string{"“Anna” Müller|anna@example.org"}, 0},
	{"missing comma", `Max <kohl@example.com> Anna <anna@example.org>`,
		[]string{"Max|kohl@example.com", "Anna|anna@example.org"}, 0},
	{"bare addresses without commas", `kohl@example.com anna@example.org`,
		[]string{"|kohl@example.com", "|anna@example.org"}, 0},
	{"mailto", `<mailto:kohl@example.com>, x <>`, []string{"|kohl@example.com"}, 1},
	{"source route", `<@relay.example.net:kohl@example.com>`, []string{"|kohl@example.com"}, 0},
	{"IDN and UTF-8 local part", `Jörg <jörg@bücher.example>`, []string{"Jörg|jörg@bücher.example"}, 0},
	{"quoted local part", `"max kohl"@example.com`, []string{`|"max kohl"@example.com`}, 0},
	{"no domain", `Max Kohl <kohl>, anna@example.org`, []string{"|anna@example.org"}, 1},
	{"name only", `Max Kohl`, nil, 1},
	{"unquoted Lastname, Firstname", `Müller, Bernd <bernd@example.com>, Kohl, Max <kohl@example.com>`,
		[]string{"Müller, Bernd|bernd@example.com", "Kohl, Max|kohl@example.com"}, 0},
	{"orphan name before an entry", `Max Kohl, Anna <anna@example.org>`, []string{"Anna|anna@example.org"}, 1},
	{"folded", "\"Kohl, Max\" <kohl@example.com>,\r\n\t=?utf-8?Q?Anna_Sch=C3=B6n?= <anna@example.org>",
		[]string{"Kohl, Max|kohl@example.com", "Anna Schön|anna@example.org"}, 0},
	{"control characters in name", "\"Max\x01 Kohl\" <kohl@example.com>", []string{"Max Kohl|kohl@example.com"}, 0},
	{"empty", "  ", nil, 0},
	{"bare with dots", `max.kohl+shop@mail.example.com`, []string{"|max.kohl+shop@mail.example.com"}, 0},
	{"bare with leading dot", `.max@example.com`, []string{"|.max@example.com"}, 0},
	{"domain literal", `kohl@[192.0.2.1]`, []string{"|kohl@[192.0.2.1]"}, 0},
}

func TestParseAddressList(t *testing.T) {
	for _, c := range addrCases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			dropped := 0
			for _, e := range parseAddressList(c.raw) {
				if e.problem != "" {
					dropped++
					continue
				}
				got = append(got, e.Name+"|"+e.Address)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") || dropped != c.dropped {
				t.Errorf("parseAddressList(%q)\n got %q, %d dropped\nwant %q, %d dropped", c.raw, got, dropped, c.want, c.dropped)
			}
		})
	}
}

func TestDecode8bitReportsCharset(t *testing.T) {
	list := parseAddressList("\"M\xfcller, Bernd\" <bernd@example.com>")
	if len(list) != 1 || list[0].Name != "Müller, Bernd" || list[0].charset == "" {
		t.Fatalf("got %+v", list)
	}
	list = parseAddressList(`"Müller, Bernd" <bernd@example.com>`)
	if len(list) != 1 || list[0].charset != "" {
		t.Fatalf("valid UTF-8 needs no guess: %+v", list)
	}
}

func TestStripBATV(t *testing.T) {
	for in, want := range map[string]string{
		"prvs=1234abcdef=bernd.mueller@example.com": "bernd.mueller@example.com",
		"PRVS=0123456789=a@example.com":             "a@example.com",
		"prvs=a@example.com":                        "prvs=a@example.com",
		"bernd@example.com":                         "bernd@example.com",
	} {
		if got := stripBATV(in); got != want {
			t.Errorf("stripBATV(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAddressList(f *testing.F) {
	for _, c := range addrCases {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if bareAddress(raw) {
			// The shortcut must read what net/mail reads.
			list, err := listParser.ParseList(raw)
			if err != nil || len(list) != 1 || list[0].Address != raw || list[0].Name != "" {
				t.Fatalf("bareAddress(%q), but net/mail reads %v, %v", raw, list, err)
			}
		}
		for _, e := range parseAddressList(raw) {
			if e.problem != "" {
				continue
			}
			if !strings.Contains(e.Address, "@") {
				t.Fatalf("%q: address %q has no @", raw, e.Address)
			}
			if strings.IndexFunc(e.Address, unicode.IsControl) >= 0 {
				t.Fatalf("%q: address %q has a control character", raw, e.Address)
			}
			if strings.IndexFunc(e.Name, unicode.IsControl) >= 0 {
				t.Fatalf("%q: name %q has a control character", raw, e.Name)
			}
		}
	})
}

// Headers of unclosed quotes, comments and brackets cost time in
// proportion to their length: a spammer's 1 MB To must not stall a worker.
func TestParseAddressListLinear(t *testing.T) {
	for _, unit := range []string{"(", "<", "\"<", "', ", "(<\"'", "a@example.com (", "<\"a", `"\"`, `'\"`} {
		raw := strings.Repeat(unit, 200000/len(unit))
		start := time.Now()
		parseAddressList(raw)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q repeated: %v", unit, d)
		}
	}
}
