package tnef

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// rtfPrefix is the dictionary a compressed RTF stream starts from
// ([MS-OXRTFCP] 2.1.2.1).
const rtfPrefix = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

const (
	rtfCompressed   = 0x75465A4C // "LZFu"
	rtfUncompressed = 0x414C454D // "MELA"
	// maxRTF caps a decompressed body; each reference of LZFu yields at most
	// 17 bytes from 2, so a real stream never nears 9 times its size.
	maxRTFRatio = 9
	// MaxRTFBytes caps it absolutely: a body is cut at a MiB of text
	// anyway, and RTF, markup included, is a few times its text.
	MaxRTFBytes = 4 << 20
)

// DecompressRTF decompresses PR_RTF_COMPRESSED ([MS-OXRTFCP]).
func DecompressRTF(b []byte) ([]byte, error) {
	if len(b) < 16 {
		return nil, errors.New("compressed RTF header truncated")
	}
	compSize := binary.LittleEndian.Uint32(b)
	rawSize := binary.LittleEndian.Uint32(b[4:])
	kind := binary.LittleEndian.Uint32(b[8:])
	data := b[16:]
	if uint64(compSize) >= 12 && uint64(compSize)-12 < uint64(len(data)) {
		data = data[:compSize-12]
	}
	switch kind {
	case rtfUncompressed:
		if uint64(rawSize) < uint64(len(data)) {
			data = data[:rawSize]
		}
		return data[:min(len(data), MaxRTFBytes)], nil
	case rtfCompressed:
	default:
		return nil, fmt.Errorf("unknown compressed RTF type %#08x", kind)
	}
	limit := min(maxRTFRatio*len(data)+64, MaxRTFBytes)
	if uint64(rawSize) < uint64(limit) {
		limit = int(rawSize)
	}
	out := make([]byte, 0, limit)
	var dict [4096]byte
	copy(dict[:], rtfPrefix)
	w := len(rtfPrefix)
	for i := 0; i < len(data); {
		control := data[i]
		i++
		for bit := 0; bit < 8 && i < len(data); bit++ {
			if control&(1<<bit) == 0 {
				if len(out) >= limit {
					return out, nil
				}
				out = append(out, data[i])
				dict[w] = data[i]
				w = (w + 1) & 4095
				i++
				continue
			}
			if i+1 >= len(data) {
				return nil, errors.New("compressed RTF reference truncated")
			}
			ref := int(data[i])<<8 | int(data[i+1])
			i += 2
			off, n := ref>>4, ref&15+2
			if off == w {
				return out, nil // the end marker
			}
			for k := 0; k < n; k++ {
				if len(out) >= limit {
					return out, nil
				}
				c := dict[(off+k)&4095]
				out = append(out, c)
				dict[w] = c
				w = (w + 1) & 4095
			}
		}
	}
	return out, nil
}

// HTMLFromRTF de-encapsulates the HTML of an RTF body written from HTML
// (\fromhtml1, [MS-OXRTFEX]); ok is false for any other RTF.
func HTMLFromRTF(rtf []byte) (html string, ok bool) {
	head := rtf[:min(len(rtf), 1024)]
	if !bytes.HasPrefix(head, []byte("{\\rtf")) || !bytes.Contains(head, []byte("\\fromhtml1")) {
		return "", false
	}
	return walkRTF(rtf, true), true
}

// TextFromRTF is the text of an RTF document: its paragraphs, without
// formatting, tables of fonts and colours, pictures or fields' codes.
func TextFromRTF(rtf []byte) string {
	return walkRTF(rtf, false)
}

// skippedDestinations are RTF groups that hold no text of the document.
var skippedDestinations = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true,
	"object": true, "fldinst": true, "header": true, "footer": true, "headerl": true,
	"headerr": true, "footerl": true, "footerr": true, "listtable": true,
	"listoverridetable": true, "rsidtbl": true, "xmlnstbl": true, "filetbl": true,
	"revtbl": true, "generator": true, "themedata": true, "colorschememapping": true,
	"latentstyles": true, "datastore": true, "bkmkstart": true, "bkmkend": true,
}

// rtfSymbols are control words that stand for a character.
var rtfSymbols = map[string]string{
	"par": "\n", "line": "\n", "tab": "\t", "emdash": "—", "endash": "–", "bullet": "•",
	"lquote": "‘", "rquote": "’", "ldblquote": "“", "rdblquote": "”", "sect": "\n", "row": "\n", "cell": "\t",
}

type rtfGroup struct {
	skip    bool // an ignored destination
	htmlrtf bool // \htmlrtf: RTF-only text of an HTML body
	htmltag bool // \*\htmltag: HTML of an HTML body
	uc      int  // characters to skip after \u
}

// walkRTF writes the text of rtf; with html, the encapsulated HTML.
func walkRTF(rtf []byte, html bool) string {
	var out strings.Builder
	out.Grow(len(rtf) / 2)
	cm := charmap.Windows1252
	g := rtfGroup{uc: 1}
	stack := make([]rtfGroup, 0, 32)
	star := false    // the group started with \*
	first := false   // the next control word is the first of its group
	pendingSkip := 0 // characters still to skip after \u
	var high rune    // a high surrogate waiting for its low half
	emit := func(s string) {
		if g.skip || (html && g.htmlrtf && !g.htmltag) {
			return
		}
		out.WriteString(s)
	}
	for i := 0; i < len(rtf); {
		c := rtf[i]
		switch c {
		case '{':
			if len(stack) < 1024 {
				stack = append(stack, g)
			}
			g.htmltag = false
			first, star = true, false
			pendingSkip = 0
			i++
			continue
		case '}':
			if len(stack) > 0 {
				g = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			first, star = false, false
			pendingSkip = 0
			i++
			continue
		case '\r', '\n':
			i++
			continue
		case '\\':
		default:
			if pendingSkip > 0 {
				pendingSkip--
			} else {
				// 8-bit bytes are not valid RTF, but read as the code page
				emit(string(cm.DecodeByte(c)))
			}
			first = false
			i++
			continue
		}
		// a control word or symbol
		i++
		if i >= len(rtf) {
			break
		}
		c = rtf[i]
		if !isLetter(c) {
			i++
			switch c {
			case '*':
				star = true
				continue
			case '\'':
				if i+2 <= len(rtf) {
					if v, ok := unhex(rtf[i], rtf[i+1]); ok {
						if pendingSkip > 0 {
							pendingSkip--
						} else {
							emit(string(cm.DecodeByte(v)))
						}
					}
					i += 2
				}
			case '\\', '{', '}':
				if pendingSkip > 0 {
					pendingSkip--
				} else {
					emit(string(rune(c)))
				}
			case '~':
				emit("\u00a0")
			case '_':
				emit("‑")
			case '\r', '\n':
				emit("\n")
			}
			first = false
			continue
		}
		start := i
		for i < len(rtf) && isLetter(rtf[i]) && i-start < 32 {
			i++
		}
		word := string(rtf[start:i])
		param, hasParam := 0, false
		neg := false
		if i < len(rtf) && rtf[i] == '-' {
			neg = true
			i++
		}
		for digits := 0; i < len(rtf) && rtf[i] >= '0' && rtf[i] <= '9' && digits < 10; digits++ {
			param = param*10 + int(rtf[i]-'0')
			hasParam = true
			i++
		}
		if neg {
			param = -param
		}
		if i < len(rtf) && rtf[i] == ' ' {
			i++
		}
		isFirst := first
		first = false
		if isFirst && (star || skippedDestinations[word]) {
			if html && star && word == "htmltag" {
				g.htmltag = true
			} else {
				g.skip = true
			}
			star = false
			continue
		}
		star = false
		switch word {
		case "ansicpg":
			if m := codePages[param]; m != nil {
				cm = m
			}
		case "htmlrtf":
			g.htmlrtf = !hasParam || param != 0
		case "uc":
			g.uc = max(0, min(param, 4))
		case "u":
			if param < 0 {
				param += 65536
			}
			r := rune(param)
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00:
				high = r // the first half of a pair
				pendingSkip = g.uc
				continue
			case utf16.IsSurrogate(r):
				r = utf16.DecodeRune(high, r)
			}
			high = 0
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			emit(string(r))
			pendingSkip = g.uc
		default:
			if s, ok := rtfSymbols[word]; ok {
				if html && s == "\n" {
					s = "\r\n"
				}
				emit(s)
			}
		}
	}
	return out.String()
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func unhex(a, b byte) (byte, bool) {
	h, ok1 := hexVal(a)
	l, ok2 := hexVal(b)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
