package mapper

import (
	"strings"

	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/enneo/mailbridge/internal/enmime/mediatype"
)

// Signatures are kept as attachments and never checked: mailbridge has no
// trust store, and a ticket must not suggest a sender is proven. Encrypted
// content cannot be read without the recipient's key, so it is attached and
// explained rather than dropped.

const (
	notVerified = "signed (not verified)"
	pgpBegin    = "-----BEGIN PGP MESSAGE-----"
	pgpEnd      = "-----END PGP MESSAGE-----"
)

func isPKCS7Mime(ct string) bool {
	return ct == "application/pkcs7-mime" || ct == "application/x-pkcs7-mime"
}

// openSignedData replaces an opaque-signed S/MIME message (the whole message
// is an smime.p7m holding signed-data) by the MIME entity it signs, so its
// body and attachments show; the message's header stays. It reports whether
// it opened one.
func (m *mapping) openSignedData() bool {
	root := m.env.Root
	if root == nil || !isPKCS7Mime(root.ContentType) {
		return false
	}
	switch strings.ToLower(ctParam(root, "smime-type")) {
	case "signed-data", "":
	default:
		return false
	}
	p7, err := parsePKCS7(root.Content)
	if err != nil || len(p7.Content) == 0 {
		if ctParam(root, "smime-type") != "" {
			m.warn("S/MIME signed data could not be read (%v): kept as an attachment", errOr(err, "no content"))
		}
		return false
	}
	inner, err := readEnvelope(m.ctx, p7.Content)
	if err != nil {
		m.warn("S/MIME signed content is not a MIME entity (%v): kept as an attachment", err)
		return false
	}
	m.env.Root, m.env.Text, m.env.HTML = inner.Root, inner.Text, inner.HTML
	m.env.Attachments, m.env.Inlines, m.env.OtherParts = inner.Attachments, inner.Inlines, inner.OtherParts
	for _, e := range inner.Errors {
		m.warn("signed content: %s", e.Error())
	}
	m.warn("S/MIME signed message (%s) unwrapped: its content is posted, the signature is not verified and not attached", orName(root.FileName, "smime.p7m"))
	m.setRaw("smime", notVerified)
	return true
}

// ctParam is a parameter of a part's Content-Type (enmime keeps only the
// type).
func ctParam(p *enmime.Part, key string) string {
	_, params, _, err := mediatype.Parse(p.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return params[key]
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func orName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// nameSignature gives the signature of a multipart/signed its usual name
// when it has none; the signed content shows as the body already.
func (m *mapping) nameSignature(p *enmime.Part) {
	var sig *enmime.Part
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		sig = c // the signature is the last part (RFC 1847)
	}
	if sig == nil || sig == p.FirstChild {
		return
	}
	var name, key string
	switch sig.ContentType {
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		name, key = "smime.p7s", "smime"
	case "application/pgp-signature":
		name, key = "signature.asc", "pgp"
	default:
		return
	}
	if sig.FileName == "" {
		sig.FileName = name
	}
	m.setRaw(key, notVerified)
	m.warn("signed message: the signature is attached as %s, not verified", sig.FileName)
}

// noteEncrypted explains an S/MIME or PGP/MIME encrypted part, which stays
// attached.
func (m *mapping) noteEncrypted(p *enmime.Part) {
	var kind, key string
	att := p
	switch {
	case isPKCS7Mime(p.ContentType):
		switch strings.ToLower(ctParam(p, "smime-type")) {
		case "enveloped-data", "authenveloped-data":
		case "":
			// no smime-type: signed-data was opened above, or is not readable
			if !strings.EqualFold(p.FileName, "smime.p7m") || pkcs7Readable(p.Content) {
				return
			}
		default:
			return
		}
		kind, key = "S/MIME", "smime"
		if att.FileName == "" {
			att.FileName = "smime.p7m"
		}
	case p.ContentType == "multipart/encrypted":
		kind, key = "PGP/MIME", "pgp"
		if !strings.EqualFold(ctParam(p, "protocol"), "application/pgp-encrypted") {
			kind = "multipart/encrypted"
		}
		// the first part only says "Version: 1"; the second is the data
		first := p.FirstChild
		if first == nil || first.NextSibling == nil {
			return
		}
		att = first.NextSibling
		if first.ContentType == "application/pgp-encrypted" {
			m.replacePart(first, nil)
		}
		if att.FileName == "" {
			att.FileName = "encrypted.asc"
		}
	default:
		return
	}
	m.note("This message is encrypted (" + kind + "); mailbridge cannot read it. The encrypted part is attached as " + att.FileName + ".")
	m.setRaw(key, "encrypted")
	m.warn("encrypted message (%s): posted with a note, the encrypted part attached as %s", kind, att.FileName)
}

func pkcs7Readable(b []byte) bool {
	p7, err := parsePKCS7(b)
	return err == nil && len(p7.Content) > 0
}

// openInlinePGP moves PGP messages written into the text of a mail
// (-----BEGIN PGP MESSAGE-----) to an attachment: the armour is unreadable
// for an agent and noise for enneo's AI. The text around them stays.
func (m *mapping) openInlinePGP() {
	var text, parts []string
	m.env.Text = cutArmour(m.env.Text, &text)
	walkParts(m.env.Root, func(p *enmime.Part) {
		if p.ContentType == "text/plain" && isBodyPart(p) && strings.Contains(string(p.Content), pgpBegin) {
			p.Content = []byte(cutArmour(string(p.Content), &parts))
		}
	})
	if len(parts) == 0 {
		parts = text // the text was made from HTML
	}
	if len(parts) == 0 {
		return
	}
	armour := strings.Join(parts, "\n") + "\n"
	m.appendPart(newPart("application/pgp-encrypted", "encrypted.asc", "attachment", []byte(armour)))
	m.note("This message is encrypted (PGP); mailbridge cannot read it. The encrypted part is attached as encrypted.asc.")
	m.setRaw("pgp", "encrypted")
	m.warn("encrypted message (inline PGP): posted with a note, the encrypted text attached as encrypted.asc")
}

// cutArmour removes the PGP messages of s, appending them to blocks.
func cutArmour(s string, blocks *[]string) string {
	for {
		i := strings.Index(s, pgpBegin)
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], pgpEnd)
		if j < 0 {
			j = len(s) - i
		} else {
			j += len(pgpEnd)
		}
		*blocks = append(*blocks, s[i:i+j])
		before, after := strings.TrimRight(s[:i], " \t\r\n"), strings.TrimLeft(s[i+j:], " \t\r\n")
		if before != "" && after != "" {
			before += "\n\n"
		}
		s = before + after
	}
}
