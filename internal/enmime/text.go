package enmime

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	u8 "unicode/utf8"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
)

// DecodeTextBody reads body as text for a caller that salvages a body the
// MIME structure hid (a multipart type whose boundary never appears): it
// undoes the transfer encoding cte (quoted-printable or base64, leniently
// as for parts) and reads the bytes as UTF-8 if they are, else in a
// guessed charset. notes describe what was done.
func DecodeTextBody(body []byte, cte string) (string, []string) {
	var notes []string
	var r io.Reader = strings.NewReader(string(body))
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case cteQuotedPrintable:
		r = quotedprintable.NewReader(coding.NewQPCleaner(r))
	case cteBase64:
		r = base64.NewDecoder(base64.RawStdEncoding, coding.NewBase64Cleaner(r))
	}
	decoded, err := io.ReadAll(r)
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("Content-Transfer-Encoding %q: %v: kept as sent", cte, err))
		decoded = body
	case cte != "" && len(decoded) != len(body):
		notes = append(notes, fmt.Sprintf("Content-Transfer-Encoding %q decoded", strings.ToLower(strings.TrimSpace(cte))))
	}
	if u8.Valid(decoded) {
		return string(decoded), notes
	}
	cs, how := coding.GuessCharset(decoded)
	notes = append(notes, fmt.Sprintf("8-bit text read as %s (%s)", cs, how))
	return coding.DecodeGuessed(cs, decoded), notes
}
