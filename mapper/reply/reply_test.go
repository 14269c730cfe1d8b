package reply

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	htmlpkg "golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want.txt from Text's output")

// corpusCase is one mail of testdata/: NAME.in.txt (text/plain),
// NAME.in.html (text/html) or both, and NAME.want.txt, the expected
// bodyClean.
type corpusCase struct {
	name, plain, html, wantFile string
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	files, err := filepath.Glob("testdata/*.in.*")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*corpusCase{}
	for _, f := range files {
		base := filepath.Base(f)
		name := base[:strings.Index(base, ".in.")]
		c := byName[name]
		if c == nil {
			c = &corpusCase{name: name, wantFile: filepath.Join("testdata", name+".want.txt")}
			byName[name] = c
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".txt":
			c.plain = string(b)
		case ".html":
			c.html = string(b)
		default:
			t.Fatalf("%s: input must end in .in.txt or .in.html", f)
		}
	}
	var cases []corpusCase
	for _, c := range byName {
		cases = append(cases, *c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// TestCorpus runs every mail of testdata/. Run with -update to accept new
// output, then read the diff of the .want.txt files before committing.
func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 30 {
		t.Fatalf("corpus has %d mails, want at least 30", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Text(c.plain, c.html)
			if *update {
				if err := os.WriteFile(c.wantFile, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(c.wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			want := strings.TrimSuffix(string(b), "\n")
			if got != want {
				t.Errorf("Text differs from %s (- want, + got):\n%s", c.wantFile, lineDiff(want, got))
			}
		})
	}
}

// lineDiff is a minimal LCS line diff; the corpus texts are short.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&out, "  %s\n", x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "+ %q\n", y[j])
			j++
		default:
			fmt.Fprintf(&out, "- %q\n", x[i])
			i++
		}
	}
	return out.String()
}

// TestRules pins single rules, above all the conservative ones: each
// "keep" case is prose a customer could plausibly write.
func TestRules(t *testing.T) {
	tests := []struct {
		name, plain, html, want string
	}{
		{name: "empty", want: ""},
		{name: "blank", plain: " \n\t\n", html: "<p>&nbsp;</p>", want: ""},
		{name: "crlf", plain: "Hi\r\n\r\nthere\r\n-- \r\nsig", want: "Hi\n\nthere"},
		{name: "html without text uses plain", plain: "Hi", html: `<img src="cid:x">`, want: "Hi"},
		{name: "leading and trailing blank lines", plain: "\n\n  Hi\n\n\n\nthere  \n\n", want: "  Hi\n\nthere"},
		{
			name:  "single From: line in prose stays",
			plain: "Please change the sender.\nFrom: Anna Schmidt\nshould read From: Support.\n\nThanks",
			want:  "Please change the sender.\nFrom: Anna Schmidt\nshould read From: Support.\n\nThanks",
		},
		{
			name:  "From and To without Sent or Subject stay",
			plain: "Route:\nFrom: Hamburg\nTo: Köln\nDate: 3.4.\n\nThanks",
			want:  "Route:\nFrom: Hamburg\nTo: Köln\nDate: 3.4.\n\nThanks",
		},
		{
			name:  "header block with bold from html2text",
			plain: "Ok\n\n*From:* A <a@example.com>\n*Sent:* Monday\n*To:* B\n*Subject:* x\n\nold",
			want:  "Ok",
		},
		{
			name:  "undated attribution without quote stays",
			plain: "On Monday Peter wrote:\nthe parcel is lost.",
			want:  "On Monday Peter wrote:\nthe parcel is lost.",
		},
		{
			name:  "dated attribution without quote cuts",
			plain: "Fine.\n\nOn Mon, 11 Mar 2024 at 09:00, Peter <p@example.com> wrote:\nthe parcel is lost.",
			want:  "Fine.",
		},
		{
			name:  "attribution wrapped over two lines",
			plain: "Fine.\n\nOn Mon, 11 Mar 2024 at 09:00, Peter Parker <\np@example.com> wrote:\n\n> old",
			want:  "Fine.",
		},
		{
			name:  "German attribution wrapped and unquoted",
			plain: "Gut.\n\nAm Mo., 11. März 2024 um 09:00 Uhr schrieb Peter Parker\n<p@example.com>:\nalter Text",
			want:  "Gut.",
		},
		{
			name:  "dashes in prose stay",
			plain: "Price -- as agreed -- is 10 EUR.\n---\nnext point",
			want:  "Price -- as agreed -- is 10 EUR.\n---\nnext point",
		},
		{
			name:  "mobile footer inside a sentence stays",
			plain: "This was sent from my iPhone and the app crashed.",
			want:  "This was sent from my iPhone and the app crashed.",
		},
		{
			name:  "invalid UTF-8",
			plain: "caf\xe9 ok",
			want:  "caf\uFFFD ok",
		},
		{
			name: "blockquote cite nested Outlook header does not truncate the answers after it",
			html: `<p>Answer one.</p><blockquote type="cite"><div id="divRplyFwdMsg">From: x</div><p>old</p></blockquote><p>Answer two.</p>`,
			want: "Answer one.\n\nAnswer two.",
		},
		{
			name: "gmail interleaved answer inside the quote container",
			html: `<div dir="ltr">See below.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, Mar 11, 2024 at 9:00 AM A &lt;a@example.com&gt; wrote:</div>` +
				`<blockquote class="gmail_quote">Colour?</blockquote><div>Blue.</div><blockquote class="gmail_quote">Size?</blockquote><div>XL.</div></div>`,
			want: "See below.\n\nBlue.\n\nXL.",
		},
		{
			name: "only quote in html falls back to the whole text",
			html: `<blockquote type="cite">Am 12.03.2024 um 10:15 schrieb A:<br>old</blockquote>`,
			want: "> Am 12.03.2024 um 10:15 schrieb A:\n> old",
		},
		{
			name:  "quote then signature falls back to the text before the signature",
			plain: "> old text\n\n-- \nsig",
			want:  "> old text",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.plain, tt.html); got != tt.want {
				t.Errorf("Text(%q, %q)\n got %q\nwant %q", tt.plain, tt.html, got, tt.want)
			}
		})
	}
}

// FuzzText checks the promises Text makes for any input: it does not
// panic, returns valid UTF-8, returns something when the mail has text,
// and returns a part of that text, so never more than the text itself.
func FuzzText(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.plain, c.html)
	}
	f.Add("On 1 wrote:\n>", "<blockquote type=cite><div id=appendonsend>")
	f.Add("-- \n", "<div class=gmail_quote><blockquote>")
	f.Add("\xff\xfe>\r\r", "<table><tr><td>\x00</td></tr></table>")
	f.Add("> only\n>\n> quote", "")
	f.Add("", `<div class="gmail_quote"><blockquote class="gmail_quote">q</blockquote>a<blockquote>q</blockquote></div>`)
	f.Fuzz(func(t *testing.T, plain, html string) {
		got := Text(plain, html)
		if !utf8.ValidString(got) {
			t.Fatalf("Text returned invalid UTF-8: %q", got)
		}
		// The mail's text: the plain part and the rendered HTML part. Text
		// picks one of them; which one is its business.
		texts := []string{sanitize(plain)}
		if doc, err := htmlpkg.Parse(strings.NewReader(sanitize(html))); err == nil {
			texts = append(texts, render(doc))
		}
		var hasText bool
		longest := 0
		for _, text := range texts {
			// Quote markers and invisible characters alone are not text.
			hasText = hasText || strings.ContainsFunc(text, func(r rune) bool {
				return !unicode.IsSpace(r) && r != '>' && r != '\u200b' && r != '\u200e' && r != '\u200f' && r != '\ufeff'
			})
			longest = max(longest, len(text))
		}
		if got == "" && hasText {
			t.Fatalf("Text(%q, %q) is empty, but the mail has text %q", plain, html, texts)
		}
		if len(got) > longest {
			t.Fatalf("Text(%q, %q) = %q is longer than the mail's text %q", plain, html, got, texts)
		}
	})
}

// benchReply is a typical HTML reply of about 10 KB: a short Gmail answer
// over a thread of earlier replies, as a help desk receives it.
func benchReply() string {
	var b strings.Builder
	b.WriteString(`<div dir="ltr"><div>Hallo Frau Schmidt,</div><div><br></div>` +
		`<div>vielen Dank für die schnelle Antwort. Der Zählerstand am 01.03.2024 war 048213 kWh, ` +
		`das Foto hänge ich an. Bitte passen Sie den Abschlag ab April entsprechend an.</div>` +
		`<div><br></div><div>Viele Grüße</div><div>Max Mustermann</div></div><br>` +
		`<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">` +
		`Am Di., 12. März 2024 um 10:15&nbsp;Uhr schrieb Anna Schmidt &lt;<a href="mailto:anna.schmidt@support.example.com">` +
		`anna.schmidt@support.example.com</a>&gt;:<br></div><blockquote class="gmail_quote" ` +
		`style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">`)
	for b.Len() < 9<<10 {
		b.WriteString(`<div class="WordSection1"><p class="MsoNormal">Sehr geehrter Herr Mustermann,<o:p></o:p></p>` +
			`<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">wir haben Ihre Nachricht erhalten und ` +
			`bearbeiten sie so schnell wie möglich. Bitte nennen Sie uns Ihren aktuellen Zählerstand und das Ablesedatum, ` +
			`damit wir den monatlichen Abschlag neu berechnen können.<o:p></o:p></p>` +
			`<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Mit freundlichen Grüßen<br>Anna Schmidt<br>` +
			`Kundenservice Stadtwerke<o:p></o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">` +
			`<p class="MsoNormal"><b>Von:</b> Max Mustermann &lt;max@example.de&gt;<br><b>Gesendet:</b> Montag, 11. März 2024 18:02<br>` +
			`<b>An:</b> Kundenservice &lt;service@stadtwerke.example.de&gt;<br><b>Betreff:</b> AW: Abschlag<o:p></o:p></p></div>`)
	}
	b.WriteString(`</div></blockquote></div>`)
	return b.String()
}

func BenchmarkText(b *testing.B) {
	html := benchReply()
	b.SetBytes(int64(len(html)))
	b.ReportAllocs()
	for b.Loop() {
		Text("", html)
	}
}

// BenchmarkCorpus runs every mail of testdata/, a mix of plain and HTML.
func BenchmarkCorpus(b *testing.B) {
	cases := loadCorpus(b)
	var bytes int64
	for _, c := range cases {
		bytes += int64(len(c.plain) + len(c.html))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			Text(c.plain, c.html)
		}
	}
}

// BenchmarkTextPlain is the common case on the delivery path: a plain
// text mail of 10 KB with no quote at all.
func BenchmarkTextPlain(b *testing.B) {
	plain := strings.Repeat("Hello support team, the invoice for order 4711 still shows the old address.\n"+
		"Could you please correct it and send a new copy? Thanks a lot for your help.\n\n", 64)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		Text(plain, "")
	}
}

func TestLineFeedsAsTwoReplacements(t *testing.T) {
	pieces := []string{"\r", "\n", "\r\n", "\r\r\n", "\n\r", "a", "text "}
	for n := range 20000 {
		var b strings.Builder
		for k := n; k > 0; k /= len(pieces) {
			b.WriteString(pieces[k%len(pieces)])
		}
		s := b.String()
		want := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		if got := lineFeeds(s); got != want {
			t.Fatalf("lineFeeds(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestMobileFooterCase(t *testing.T) {
	for n, want := range map[string]bool{
		"Sent from my iPhone":            true,
		"SENT FROM MY IPHONE":            true,
		"sent from my iPhone":            true,
		"Gesendet von meinem iPad":       true,
		"Envoyé de mon iPhone":           true,
		"ſent from my iPhone":            false,
		"Hello, sent from my iPhone":     false,
		"Holen Sie sich Outlook für iOS": true,
	} {
		if got := isMobileFooter(n); got != want {
			t.Errorf("isMobileFooter(%q) = %v, want %v", n, got, want)
		}
	}
}

// TestTidyHeadIsTidy checks that tidyHead, which returns the stretch of
// the text itself where tidying changes nothing, says what tidy says.
func TestTidyHeadIsTidy(t *testing.T) {
	pieces := []string{"", "", "text", "more text", " lead", "trail ", "tab\t", "nbsp\u00a0", "\u00a0",
		" ", "\t", ">", "> quote", ">>", "\u200b", "\v", "x\v", "\u2028", "ü"}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 100000 {
		lines := make([]string, rng.IntN(8))
		for i := range lines {
			lines[i] = pieces[rng.IntN(len(pieces))]
		}
		text := strings.Join(lines, "\n")
		a := &analysis{text: text, lines: strings.Split(text, "\n")}
		for n := range len(a.lines) + 1 {
			if got, want := a.tidyHead(n), tidy(a.lines[:n]); got != want {
				t.Fatalf("tidyHead(%d) of %q = %q, tidy says %q", n, text, got, want)
			}
		}
	}
}

// TestMapsRunes: the word-at-a-time test finds what a search for each
// byte finds, wherever in a line the byte is.
func TestMapsRunes(t *testing.T) {
	base := []byte("The quick brown fox jumps over the lazy dog, \u00e4 \u00fc 0123")
	want := func(l string) bool {
		return strings.IndexByte(l, '\t') >= 0 || strings.IndexByte(l, 0xc2) >= 0 ||
			strings.IndexByte(l, 0xe2) >= 0 || strings.IndexByte(l, 0xef) >= 0
	}
	for n := 0; n <= len(base); n++ {
		line := base[:n]
		if got := mapsRunes(string(line)); got != want(string(line)) {
			t.Fatalf("mapsRunes(%q) = %v", line, got)
		}
		for i := range n {
			for _, c := range []byte{'\t', 0xc2, 0xe2, 0xef, 0x08, 0x0a, 0x89, 0xc3} {
				l := slices.Clone(line)
				l[i] = c
				if got := mapsRunes(string(l)); got != want(string(l)) {
					t.Fatalf("mapsRunes(%q) = %v", l, got)
				}
			}
		}
	}
}
