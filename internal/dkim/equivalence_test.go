//go:debug rsa1024min=0

package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	upstream "github.com/emersion/go-msgauth/dkim"

	"github.com/enneo/mailbridge/internal/testenv"
)

// upstreamBodyHash is the body hash go-msgauth computes, fed in chunks of
// at most chunk bytes as a reader would.
func upstreamBodyHash(t *testing.T, c Canonicalization, body []byte, chunk int) []byte {
	t.Helper()
	h := crypto.SHA256.New()
	wc := upstreamCanonicalizers[c].CanonicalizeBody(h)
	for len(body) > 0 {
		n := min(chunk, len(body))
		if _, err := wc.Write(body[:n]); err != nil {
			t.Fatal(err)
		}
		body = body[n:]
	}
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func bodyHash(c Canonicalization, body []byte) []byte {
	h := crypto.SHA256.New()
	hashBody(c, h, body)
	return h.Sum(nil)
}

// bodies are the line-ending and whitespace cases of RFC 6376 3.4.3 and
// 3.4.4 and the edges of the run-based canonicalizers (runs longer than
// their buffers, many line ends in a row).
var bodies = []string{
	"",
	"\r\n",
	"\n",
	"\r",
	"\r\n\r\n\r\n",
	"\n\n\n",
	"Hello\r\n",
	"Hello",
	"Hello\n",
	"Hello\r",
	"Hello\r\r\n",
	"Hello\r\n\r",
	"Hello\n\r\n\n",
	"Hello\r\n\r\n\r\n",
	" Hello \t world \r\n \t\r\n\r\n",
	"a  b\t\tc   \r\nd\t\r\n",
	"line one\nline two \n\n",
	"mixed\r\nends\nhere\r\n\n\r\n",
	"lone\rcr\r in \r text\r\n",
	"trailing ws at end   ",
	"trailing ws then lf   \n",
	"\t leading ws\r\n",
	"\r\n\r\nleading empty lines\r\n",
	"a \r b\r\n",
	"a\r \nb\r\n",
	strings.Repeat("y", 76) + "\r\n",
	strings.Repeat(strings.Repeat("y", 76)+"\r\n", 300),
	strings.Repeat(strings.Repeat("z", 76)+"\n", 300) + "\n\n",
	strings.Repeat("x", 10000) + " " + strings.Repeat("w", 5000) + "\r\n",
	"text" + strings.Repeat("\r\n", 200) + "more text" + strings.Repeat("\n", 200),
	strings.Repeat(" ", 5000) + "x" + strings.Repeat("\t", 5000) + "\r\n",
	strings.Repeat("word ", 3000) + "\r\n",
}

func TestBodyHashMatchesUpstream(t *testing.T) {
	for _, c := range []Canonicalization{CanonicalizationSimple, CanonicalizationRelaxed} {
		for i, b := range bodies {
			want := upstreamBodyHash(t, c, []byte(b), 1<<20)
			if got := bodyHash(c, []byte(b)); !bytes.Equal(got, want) {
				t.Errorf("%s body %d %q: hash differs from go-msgauth's", c, i, trunc(b))
			}
		}
	}
}

// TestBodyHashMatchesUpstreamRandom compares the hashes on random bodies
// made of the bytes the canonicalizations treat specially, each fed to
// go-msgauth in random chunks (its canonicalizers keep state across
// writes).
func TestBodyHashMatchesUpstreamRandom(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(1, 2))
	for n, b := range randomStrings(rnd, "ab \t\r\n", 3000, 200) {
		chunk := 1 + rnd.IntN(16)
		for _, c := range []Canonicalization{CanonicalizationSimple, CanonicalizationRelaxed} {
			want := upstreamBodyHash(t, c, []byte(b), chunk)
			if got := bodyHash(c, []byte(b)); !bytes.Equal(got, want) {
				t.Fatalf("%s random body %d %q (chunks of %d): hash differs from go-msgauth's", c, n, b, chunk)
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// keys publishes DKIM key records for the corpus.
type keys map[string]string

func (k keys) lookup(name string) ([]string, error) {
	switch name {
	case "temp._domainkey.example.org":
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	case "two._domainkey.example.org":
		return []string{k["rsa._domainkey.example.org"], k["rsa._domainkey.example.org"]}, nil
	}
	if r, ok := k[name]; ok {
		return []string{r}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// memoKeys is a KeyCache without expiry.
type memoKeys map[string]any

func (m memoKeys) Key(name string, fill func() (any, error)) (any, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	v, err := fill()
	if err == nil {
		m[name] = v
	}
	return v, err
}

func TestVerifyMatchesUpstream(t *testing.T) {
	rsaKey, edKey := testenv.NewDKIMKey(t, "rsa"), testenv.NewDKIMKey(t, "ed25519")
	short, err := rsa.GenerateKey(rand.Reader, 512) // a key RFC 8301 refuses
	if err != nil {
		t.Fatal(err)
	}
	shortDer, _ := x509.MarshalPKIXPublicKey(&short.PublicKey)
	recs := keys{
		"rsa._domainkey.example.org":     rsaKey.Record,
		"ed._domainkey.example.org":      edKey.Record,
		"revoked._domainkey.example.org": "v=DKIM1; k=rsa; p=",
		"sha1._domainkey.example.org":    strings.Replace(rsaKey.Record, "k=rsa;", "k=rsa; h=sha1;", 1),
		"short._domainkey.example.org":   "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(shortDer),
		"svc._domainkey.example.org":     strings.Replace(rsaKey.Record, "k=rsa;", "k=rsa; s=other;", 1),
	}
	signers := map[string]crypto.Signer{"rsa": rsaKey.Signer, "ed": edKey.Signer, "short": short}
	for _, sel := range []string{"revoked", "sha1", "svc", "temp", "two", "none"} {
		signers[sel] = rsaKey.Signer
	}

	sign := func(t *testing.T, raw, selector string, hc, bc upstream.Canonicalization, exp time.Time) string {
		t.Helper()
		var out bytes.Buffer
		err := upstream.Sign(&out, strings.NewReader(raw), &upstream.SignOptions{Domain: "example.org",
			Selector: selector, Signer: signers[selector], HeaderCanonicalization: hc, BodyCanonicalization: bc,
			Expiration: exp, HeaderKeys: []string{"From", "To", "Subject", "Subject"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.String()
	}

	head := "From: Customer <a@example.org>\r\nTo:  support@example.com \r\nSubject:   Hello\r\n\tfolded  there\r\n"
	type msg struct{ name, raw string }
	var corpus []msg
	cans := []upstream.Canonicalization{upstream.CanonicalizationSimple, upstream.CanonicalizationRelaxed}
	for _, hc := range cans {
		for _, bc := range cans {
			for i, b := range bodies {
				base := head + "\r\n" + b
				name := fmt.Sprintf("%s/%s body %d", hc, bc, i)
				s := sign(t, base, "rsa", hc, bc, time.Time{})
				corpus = append(corpus,
					msg{name, s},
					msg{name + " LF", strings.ReplaceAll(s, "\r\n", "\n")},
					msg{name + " +trailing ws", s + "  \t"},
					msg{name + " +empty lines", s + "\r\n\r\n\n"},
					msg{name + " +text", s + "more\r\n"},
					msg{name + " ws changed", strings.Replace(s, "Hello", "Hello ", 1)},
					msg{name + " header ws", strings.Replace(s, "To:  support", "To: support", 1)},
				)
				if i%8 == 0 {
					corpus = append(corpus, msg{name + " l=", strings.Replace(s, "DKIM-Signature: ", "DKIM-Signature: l=3; ", 1)})
				}
			}
			s := sign(t, head+"\r\nHi\r\n", "ed", hc, bc, time.Time{})
			corpus = append(corpus, msg{fmt.Sprintf("%s/%s ed25519", hc, bc), s})
		}
	}
	body := head + "\r\nHello\r\n"
	two := sign(t, sign(t, body, "ed", "relaxed", "relaxed", time.Time{}), "rsa", "simple", "simple", time.Time{})
	corpus = append(corpus,
		msg{"two signatures", two},
		msg{"two signatures, body changed", two + "x\r\n"},
		msg{"expired", sign(t, body, "rsa", "relaxed", "relaxed", time.Now().Add(-time.Hour))},
		msg{"not expired", sign(t, body, "rsa", "relaxed", "relaxed", time.Now().Add(time.Hour))},
		msg{"unsigned", body},
		msg{"no body", head},
		msg{"empty", ""},
	)
	for _, sel := range []string{"revoked", "sha1", "short", "svc", "temp", "two", "none"} {
		corpus = append(corpus, msg{"key " + sel, sign(t, body, sel, "relaxed", "relaxed", time.Time{})})
	}
	s := sign(t, body, "rsa", "relaxed", "relaxed", time.Time{})
	corpus = append(corpus,
		msg{"bad c=", strings.Replace(s, "c=relaxed/relaxed", "c=relaxed/odd", 1)},
		msg{"bad v=", strings.Replace(s, "v=1", "v=2", 1)},
		msg{"bad a=", strings.Replace(s, "a=rsa-sha256", "a=rsa-sha1", 1)},
		msg{"From unsigned", strings.Replace(s, "h=From:", "h=", 1)},
		msg{"q= other", strings.Replace(s, "DKIM-Signature: ", "DKIM-Signature: q=dns/other; ", 1)},
		msg{"domain mismatch", strings.Replace(s, "DKIM-Signature: ", "DKIM-Signature: i=a@example.com; ", 1)},
		msg{"From changed", strings.Replace(s, "a@example.org", "b@example.org", 1)},
	)

	verdicts := map[string]int{}
	for _, m := range corpus {
		want, wantErr := upstream.VerifyWithOptions(strings.NewReader(m.raw), &upstream.VerifyOptions{LookupTXT: recs.lookup, MaxVerifications: 5})
		for _, cache := range []KeyCache{nil, memoKeys{}} {
			for range 2 { // the second time from the cache
				got, gotErr := Verify([]byte(m.raw), &VerifyOptions{LookupTXT: recs.lookup, MaxVerifications: 5, Keys: cache})
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || errors.Is(gotErr, ErrTooManySignatures) != errors.Is(wantErr, upstream.ErrTooManySignatures) {
					t.Fatalf("%s: error %v, go-msgauth %v", m.name, gotErr, wantErr)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d verifications, go-msgauth %d", m.name, len(got), len(want))
				}
				for i := range got {
					g, w := got[i], want[i]
					if fmt.Sprint(g.Err) != fmt.Sprint(w.Err) || IsPermFail(g.Err) != upstream.IsPermFail(w.Err) ||
						IsTempFail(g.Err) != upstream.IsTempFail(w.Err) || g.Domain != w.Domain || g.Identifier != w.Identifier ||
						fmt.Sprint(g.HeaderKeys) != fmt.Sprint(w.HeaderKeys) || !g.Time.Equal(w.Time) || !g.Expiration.Equal(w.Expiration) {
						t.Fatalf("%s: signature %d: %+v, go-msgauth %+v", m.name, i, g, w)
					}
				}
				for _, w := range want {
					verdicts[verdict(w.Err)]++
				}
			}
		}
	}
	// The corpus has signatures of every kind of verdict.
	for _, v := range []string{"pass", "fail", "permerror", "temperror"} {
		if verdicts[v] == 0 {
			t.Errorf("no %s in the corpus: %v", v, verdicts)
		}
	}
	t.Logf("verdicts: %v", verdicts)
}

func verdict(err error) string {
	switch {
	case err == nil:
		return "pass"
	case upstream.IsTempFail(err):
		return "temperror"
	case upstream.IsPermFail(err):
		return "permerror"
	}
	return "fail"
}

// upstreamSigRegex is how go-msgauth empties the b= tag.
var upstreamSigRegex = regexp.MustCompile(`(b\s*=)[^;]+`)

func TestRemoveSignatureMatchesRegexp(t *testing.T) {
	cases := []string{"", "b=", "b=;", "b=x", "b =x; bh=y; b\t=\r\n z;b=;", "ab==;bh==", "v=1; b=abc",
		"DKIM-Signature: v=1; a=rsa-sha256; bh=4bb=; b=Zm9v\r\n YmFy\r\n", "b\v=x", "b=\u00e9\u00a0;"}
	cases = append(cases, randomStrings(mrand.New(mrand.NewPCG(3, 4)), "b= ;\t\r\nxh\v", 20000, 24)...)
	for _, s := range cases {
		if got, want := removeSignature(s), upstreamSigRegex.ReplaceAllString(s, "$1"); got != want {
			t.Fatalf("removeSignature(%q) = %q, the regexp gives %q", s, got, want)
		}
	}
}

func TestStripWhitespaceMatchesUpstream(t *testing.T) {
	upstreamStrip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	for _, s := range []string{"", "abc", " a\tb\r\n c\v\f", "a\u00a0b\u0085c d", "\u2003x y", "Zm9v\r\n YmFy"} {
		if got, want := stripWhitespace(s), upstreamStrip(s); got != want {
			t.Errorf("stripWhitespace(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestReadHeaderMatchesUpstream(t *testing.T) {
	cases := []string{"", "\r\n", "\n", "a: b", "a: b\r\n", "a: b\r\n\r\nbody", "a: b\n\nbody\n",
		"a: b\r\n c\r\n\td\n e\r\n\r\nbody", " x: y\r\n\r\n", "a\r\r\n\r\n", "a: b\r\n\r", "a: b\r\n c"}
	cases = append(cases, randomStrings(mrand.New(mrand.NewPCG(5, 6)), "a: \t\r\n", 20000, 30)...)
	for _, c := range cases {
		rd := strings.NewReader(c)
		br := bufio.NewReaderSize(rd, 16)
		wantH, wantErr := upstreamReadHeader(br)
		wantBody := c[len(c)-rd.Len()-br.Buffered():]
		h, body, err := readHeader([]byte(c))
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("readHeader(%q): error %v, go-msgauth %v", c, err, wantErr)
		}
		if err == nil && (fmt.Sprintf("%q", h) != fmt.Sprintf("%q", wantH) || string(body) != wantBody) {
			t.Fatalf("readHeader(%q) = %q, body %q; go-msgauth %q, body %q", c, h, body, wantH, wantBody)
		}
	}
}

// randomStrings is n strings of fewer than max bytes from alphabet.
func randomStrings(rnd *mrand.Rand, alphabet string, n, max int) []string {
	out := make([]string, n)
	for k := range out {
		b := make([]byte, rnd.IntN(max))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		out[k] = string(b)
	}
	return out
}
