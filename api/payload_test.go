package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// referenceJSON is the request body as encoding/json writes it (HTML not
// escaped), the attachments' base64 spliced in: what payload must write,
// byte for byte.
func referenceJSON(t testing.TB, c *Conversation) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	out := bytes.TrimSuffix(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("}"))
	out = append(out, `,"attachments":[`...)
	for i, a := range c.Attachments {
		if i > 0 {
			out = append(out, ',')
		}
		name, err := json.Marshal(a.Name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(append(out, `{"name":`...), name...), `,"base64":"`...)
		out = append(base64.StdEncoding.AppendEncode(out, a.Content), `"}`...)
	}
	return append(out, "]}"...)
}

// readAll reads r with reads of random sizes, tiny ones included, which
// cut escapes and base64 groups at every place.
func readAll(t testing.TB, r io.Reader, rng *rand.Rand) []byte {
	var out []byte
	for {
		buf := make([]byte, 1+rng.IntN(64))
		if rng.IntN(4) == 0 {
			buf = make([]byte, 1+rng.IntN(8))
		}
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("read of %d bytes returned nothing", len(buf))
		}
	}
}

// checkPayload compares c's payload, read whole and in random pieces, and
// its size, with encoding/json.
func checkPayload(t testing.TB, c *Conversation, rng *rand.Rand) {
	t.Helper()
	want := referenceJSON(t, c)
	var got bytes.Buffer
	if err := c.WriteJSON(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("WriteJSON differs from encoding/json:\n got %q\nwant %q", got.Bytes(), want)
	}
	for _, shared := range []bool{false, true} {
		p, err := newPayload(c)
		if err != nil {
			t.Fatal(err)
		}
		if shared {
			p.escapeShared()
		}
		if p.size() != int64(len(want)) {
			t.Fatalf("size %d (shared %v), encoding/json wrote %d bytes", p.size(), shared, len(want))
		}
		if b := p.appendTo([]byte("x")); !bytes.Equal(b[1:], want) {
			t.Fatalf("appendTo (shared %v) differs from encoding/json:\n got %q\nwant %q", shared, b[1:], want)
		}
		if pieces := readAll(t, p.reader(nil), rng); !bytes.Equal(pieces, want) {
			t.Fatalf("read in pieces (shared %v) differs from encoding/json:\n got %q\nwant %q", shared, pieces, want)
		}
	}
}

// pieces of text with everything JSON escapes, and long runs of nothing.
var textPieces = []string{
	"a", "Hello, world. ", strings.Repeat("plain ascii text ", 5), `"`, `\`, "\n", "\r\n", "\t",
	"\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "<br>", "&amp;", "ä", "€", "日本", "😀",
	"\u2028", "\u2029", "\u2027", "\u202a", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	"\xc2\x85", "\uFFFD", "\u0080",
}

func randomText(rng *rand.Rand, pieces int) string {
	var b strings.Builder
	for range pieces {
		if rng.IntN(3) == 0 {
			b.WriteByte(byte(rng.IntN(256)))
			continue
		}
		b.WriteString(textPieces[rng.IntN(len(textPieces))])
	}
	return b.String()
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func TestPayloadMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 3000 {
		c := testConversation()
		c.Body = randomText(rng, rng.IntN(40))
		c.BodyPlain = randomText(rng, rng.IntN(200))
		c.BodyClean = randomText(rng, rng.IntN(5))
		c.Subject = randomText(rng, rng.IntN(5))
		c.Attachments = nil
		for range rng.IntN(3) {
			c.Attachments = append(c.Attachments, Attachment{Name: randomText(rng, 2), Content: randomBytes(rng, rng.IntN(20))})
		}
		checkPayload(t, c, rng)
	}
}

func TestPayloadEmptyAndLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checkPayload(t, &Conversation{}, rng)
	c := testConversation()
	c.Body = strings.Repeat("Line of a long mail, \"quoted\" and \\ once.\n", 5000) + "\xff"
	c.BodyPlain = strings.Repeat("x", 100000)
	c.BodyClean = c.Body // measured once
	c.Attachments = []Attachment{{Name: "body.txt", Content: randomBytes(rng, 100001)}, {Name: "<a>.txt"}}
	checkPayload(t, c, rng)
}

// A string that two or three fields hold is escaped once and written for
// each, whether its size was noted or not.
func TestPayloadSharedString(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 40 {
		c := testConversation()
		text := randomText(rng, 3000+rng.IntN(3000))
		c.BodyPlain, c.BodyClean = text, text
		if i%2 == 1 {
			c.Body = text
		}
		if i%4 >= 2 {
			c.NoteJSONSize(text, escapedLen(text))
		}
		checkPayload(t, c, rng)
		p, err := newPayload(c)
		if err != nil {
			t.Fatal(err)
		}
		p.escapeShared()
		var escaped int
		for _, pc := range p.pieces {
			if pc.kind == escapedPiece {
				escaped++
			}
		}
		if want := 2 + i%2; escaped != want {
			t.Fatalf("%d fields escaped once for all, want %d", escaped, want)
		}
	}
}

// FuzzPayload compares the payload of a conversation with fuzzed body
// fields with encoding/json's.
func FuzzPayload(f *testing.F) {
	for _, s := range textPieces {
		f.Add(s, []byte(s))
	}
	f.Add(strings.Repeat("abcdefg\"", 9)+"\u2028\xff", []byte{1, 2})
	f.Fuzz(func(t *testing.T, s string, content []byte) {
		c := &Conversation{Subject: s, Body: s, BodyPlain: s + s, BodyClean: "x" + s,
			Attachments: []Attachment{{Name: s, Content: content}}}
		checkPayload(t, c, rand.New(rand.NewPCG(uint64(len(s)), uint64(len(content)))))
	})
}

func TestPayloadReaderClosed(t *testing.T) {
	c := testConversation()
	p, err := newPayload(c)
	if err != nil {
		t.Fatal(err)
	}
	g := new(guard)
	r := p.reader(g)
	if n, err := r.Read(make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("read %d, %v; want 10 bytes", n, err)
	}
	g.close()
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errClosed) {
		t.Errorf("read after close: %d, %v; want %v", n, err, errClosed)
	}
}

// writeCounter counts the writes to a connection.
type writeCounter struct {
	net.Conn
	writes *atomic.Int32
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// storeCountingWrites stores conv through a client whose connections,
// made by wrap from a dialer, count their writes; it checks that the API
// got the body WriteJSON writes, and returns the writes and its size.
func storeCountingWrites(t *testing.T, conv *Conversation, wrap func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error)) (writes int32, size int) {
	t.Helper()
	h, reqs := capture(http.StatusCreated, `{"success":true,"conversationId":1,"ticketId":42,"eventId":2}`)
	var n atomic.Int32
	c := newTestClient(t, h, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			WriteBufferSize: writeBuffer,
			DialContext: wrap(func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				return writeCounter{conn, &n}, err
			}),
		}}
	})
	var want bytes.Buffer
	if err := conv.WriteJSON(&want); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StoreConversation(testContext(t), 42, conv); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; !bytes.Equal(r.body, want.Bytes()) {
		t.Errorf("body differs from WriteJSON")
	}
	return n.Load(), want.Len()
}

// A conversation that fits the write buffer goes out with its headers in
// one write, not headers first and then the body.
func TestStoreConversationSmallBodyOneWrite(t *testing.T) {
	conv := testConversation()
	conv.BodyPlain = strings.Repeat("A line of a mail of some 20 KB.\n", 600)
	plain := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial
	}
	if n, _ := storeCountingWrites(t, conv, plain); n != 1 {
		t.Errorf("request written in %d writes, want 1", n)
	}
}

// A large conversation is streamed in writes of bodyChunk, not in the
// 32 KiB a TCP connection's ReadFrom would copy it in.
func TestStoreConversationLargeBodyFewWrites(t *testing.T) {
	conv := testConversation()
	conv.BodyPlain = strings.Repeat("A line of a long mail, \"quoted\".\n", 40000)
	conv.Attachments = []Attachment{{Name: "full.txt", Content: []byte(conv.BodyPlain)}}
	n, size := storeCountingWrites(t, conv, bodyDialer)
	if most := int32(2 + size/bodyChunk); n > most {
		t.Errorf("request of %d bytes written in %d writes, want at most %d", size, n, most)
	}
}

// The same with its body fields noted escaped, which are written from
// where they are: the request is what encoding/json says, in no more
// writes than the body's pieces and chunks make.
func TestStoreConversationNotedBody(t *testing.T) {
	conv := testConversation()
	conv.BodyPlain = strings.Repeat("A line of a long mail, \"quoted\".\n", 40000)
	conv.BodyClean = conv.BodyPlain
	conv.Body = strings.Repeat("A line<br>\n", 50000)
	for _, s := range []string{conv.Body, conv.BodyPlain} {
		esc, _ := AppendEscaped(nil, s, math.MaxInt)
		conv.NoteJSON(s, esc)
	}
	conv.Attachments = []Attachment{{Name: "full.txt", Content: []byte(conv.BodyPlain)}}
	var b bytes.Buffer
	if err := conv.WriteJSON(&b); err != nil || !bytes.Equal(b.Bytes(), referenceJSON(t, conv)) {
		t.Fatalf("WriteJSON differs from encoding/json (%v)", err)
	}
	n, size := storeCountingWrites(t, conv, bodyDialer)
	if most := int32(2 + 2*4 + size/bodyChunk); n > most {
		t.Errorf("request of %d bytes written in %d writes, want at most %d", size, n, most)
	}
}

func TestEncodeBase64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for n := range 300 {
		if n >= 200 { // and larger ones, from any offset
			n = rng.IntN(100 << 10)
		}
		src := randomBytes(rng, n+8)[rng.IntN(8):][:n]
		want := base64.StdEncoding.EncodeToString(src)
		got := make([]byte, len(want))
		encodeBase64(got, src)
		if string(got) != want {
			t.Fatalf("encodeBase64 of %d bytes = %q, want %q", n, got, want)
		}
	}
}

func BenchmarkEncodeBase64(b *testing.B) {
	src := randomBytes(rand.New(rand.NewPCG(1, 1)), 1<<20)
	dst := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		encodeBase64(dst, src)
	}
}

func BenchmarkEncodingBase64(b *testing.B) {
	src := randomBytes(rand.New(rand.NewPCG(1, 1)), 1<<20)
	dst := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		base64.StdEncoding.Encode(dst, src)
	}
}

// TestNotedSizes checks that a body field's noted JSON size stands in for
// measuring it only while the field holds the noted string.
func TestNotedSizes(t *testing.T) {
	text := strings.Repeat("a \"quoted\" line\n", 1000)
	c := &Conversation{Body: text, BodyPlain: text, BodyClean: "clean"}
	want := int64(len(referenceJSON(t, c)))
	// A size noted falsely shows where it is used.
	c.NoteJSONSize(text, len(text))
	if n, err := c.Size(); err != nil || n != want-2*int64(strings.Count(text, "\"")+strings.Count(text, "\n")) {
		t.Fatalf("Size() = %d, %v with a false note for both fields; want the note used", n, err)
	}
	// Another string of the same length and content: the note is found
	// by value, and holds for it as well.
	c.NoteJSONSize(text, len(text)+strings.Count(text, "\"")+strings.Count(text, "\n"))
	c.Body = strings.Clone(text)
	if n, err := c.Size(); err != nil || n != want {
		t.Fatalf("Size() = %d, %v; want %d", n, err, want)
	}
	// A field changed since its note is measured.
	c.Body = strings.Repeat("b\n", len(text)/2)
	c.BodyPlain = strings.Repeat("\"", len(text))
	want = int64(len(referenceJSON(t, c)))
	if n, err := c.Size(); err != nil || n != want {
		t.Fatalf("Size() = %d, %v after the fields changed; want %d", n, err, want)
	}
}

// TestSpecial8 checks the word test each byte value in each place of an
// otherwise plain word, and that it flags the first of two.
func TestSpecial8(t *testing.T) {
	for pos := range 8 {
		for v := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(v)
			m := special8(word(string(w)))
			if got, want := m != 0, !plainByte(byte(v)); got != want {
				t.Errorf("special8 with %#x at %d = %v, want %v", v, pos, got, want)
			}
			if m != 0 && bits.TrailingZeros64(m)>>3 != pos {
				t.Errorf("special8 with %#x at %d flags byte %d first", v, pos, bits.TrailingZeros64(m)>>3)
			}
			for next := pos + 1; next < 8 && m != 0; next++ {
				w2 := append([]byte(nil), w...)
				w2[next] = '"'
				if m2 := special8(word(string(w2))); bits.TrailingZeros64(m2)>>3 != pos {
					t.Errorf("special8 with %#x at %d and a quote at %d flags byte %d first", v, pos, next, bits.TrailingZeros64(m2)>>3)
				}
			}
		}
	}
}

// escaped is s in a JSON string as encoding/json writes it without HTML
// escaping, quotes left out.
func escaped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))[1 : b.Len()-2]
}

// TestAppendEscaped: the escape of the longest prefix that fits, as
// encoding/json writes it, whatever the room and the buffer it starts
// with.
func TestAppendEscaped(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for range 20000 {
		s := randomText(rng, rng.IntN(20))
		full := escaped(t, s)
		prefix := []byte("p")
		start := make([]byte, 0, rng.IntN(16))
		start = append(start, prefix...)
		limit := len(prefix) + rng.IntN(len(full)+8)
		got, r := AppendEscaped(start, s, limit)
		if len(got) > limit || !bytes.HasPrefix(got, prefix) {
			t.Fatalf("AppendEscaped(%q, limit %d) = %q: past the limit or the prefix lost", s, limit, got)
		}
		want := escaped(t, s[:r])
		if !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("AppendEscaped(%q, limit %d) = %q for %d bytes, encoding/json says %q", s, limit, got[len(prefix):], r, want)
		}
		// The longest prefix: the next rune's escape would not fit.
		if r < len(s) {
			_, size := utf8.DecodeRuneInString(s[r:])
			next := escaped(t, s[:r+size])
			if len(prefix)+len(next) <= limit {
				t.Fatalf("AppendEscaped(%q, limit %d) stopped at %d, but %q fits", s, limit, r, next)
			}
		}
	}
}

// TestNotedEscapes: a field noted escaped is written as the note, found
// by value; a changed field is escaped again.
func TestNotedEscapes(t *testing.T) {
	text := strings.Repeat("a \"quoted\" line\n", 1000)
	c := &Conversation{Body: text, BodyPlain: text, BodyClean: "clean"}
	want := referenceJSON(t, c)
	esc, _ := AppendEscaped(nil, text, len(want))
	c.NoteJSON(strings.Clone(text), esc)
	rng := rand.New(rand.NewPCG(23, 24))
	checkPayload(t, c, rng)
	// A false note shows where it is used.
	c.NoteJSON(text, []byte("X"))
	var got bytes.Buffer
	if err := c.WriteJSON(&got); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(got.Bytes(), []byte(`"X"`)); n != 2 {
		t.Fatalf("the note is written for %d fields, want 2: %.200q", n, got.Bytes())
	}
	if n, err := c.Size(); err != nil || n != int64(got.Len()) {
		t.Fatalf("Size() = %d, %v; WriteJSON wrote %d", n, err, got.Len())
	}
	c.Body = "changed <b>"
	c.BodyPlain = strings.Repeat("\"", 10)
	checkPayload(t, c, rng)
}

// TestPayloadWriteTo: writeTo, after reads of any size or none, writes
// the rest as encoding/json would, the noted escapes from where they are
// and no more than its limit.
func TestPayloadWriteTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for i := range 200 {
		plain := randomText(rng, rng.IntN(8000))
		c := &Conversation{Body: randomText(rng, rng.IntN(8000)), BodyPlain: plain, BodyClean: plain,
			Attachments: []Attachment{{Name: "a", Content: randomBytes(rng, rng.IntN(50000))}}}
		if i%4 != 0 {
			for _, s := range []string{c.Body, plain} {
				esc, _ := AppendEscaped(nil, s, math.MaxInt)
				c.NoteJSON(s, esc)
			}
		}
		want := referenceJSON(t, c)
		r := sendReader(t, c)
		var got bytes.Buffer
		for range rng.IntN(3) {
			buf := make([]byte, 1+rng.IntN(40000))
			n, _ := r.Read(buf)
			got.Write(buf[:n])
		}
		limit := int64(len(want) - got.Len())
		short := rng.IntN(3) == 0
		if short {
			limit = rng.Int64N(limit + 1)
		}
		n, err := r.writeTo(&got, limit, make([]byte, 1+rng.IntN(300000)))
		if err != nil || n != limit {
			t.Fatalf("writeTo wrote %d bytes, %v; want %d", n, err, limit)
		}
		if short {
			if !bytes.Equal(got.Bytes(), want[:got.Len()]) {
				t.Fatalf("writeTo up to a limit differs from encoding/json")
			}
			continue
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("writeTo differs from encoding/json:\n got %.300q\nwant %.300q", got.Bytes(), want)
		}
	}
}

// TestPayloadWriteToClosed: a closed call's reader writes nothing more,
// the noted escapes neither.
func TestPayloadWriteToClosed(t *testing.T) {
	text := strings.Repeat("text\n", 20000)
	c := &Conversation{Body: text, BodyPlain: text, BodyClean: text}
	esc, _ := AppendEscaped(nil, text, math.MaxInt)
	c.NoteJSON(text, esc)
	p, err := newPayload(c)
	if err != nil {
		t.Fatal(err)
	}
	g := new(guard)
	r := p.reader(g)
	var out bytes.Buffer
	if _, err := r.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	g.close()
	if n, err := r.writeTo(&out, 1<<30, make([]byte, 1024)); !errors.Is(err, errClosed) || n != 0 {
		t.Fatalf("writeTo after close wrote %d bytes, %v; want 0, errClosed", n, err)
	}
}

// sendReader reads c's payload as StoreConversation lays it out, a
// string that two fields hold escaped once.
func sendReader(t testing.TB, c *Conversation) *payloadReader {
	t.Helper()
	p, err := newPayload(c)
	if err != nil {
		t.Fatal(err)
	}
	p.escapeShared()
	return p.reader(nil)
}
