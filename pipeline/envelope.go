package pipeline

import (
	"github.com/enneo/mailbridge/mailbox"
)

// The queue keeps a message's origin as the JSON of its mailbox.Origin
// (originJSON). A delivery attempt decodes it once (decodeOrigin) and reads
// its facts from that.

// smtpMailFrom is the SMTP envelope's MAIL FROM that origin records; ok is
// false when the message did not come over SMTP. An empty MAIL FROM with ok
// is the null sender of a bounce.
func smtpMailFrom(origin mailbox.Origin) (from string, ok bool) {
	if origin.SMTP == nil {
		return "", false
	}
	return origin.SMTP.MailFrom, true
}

// envelopeFrom is the SMTP envelope's MAIL FROM, or "": the mapper's
// sender of last resort.
func envelopeFrom(origin mailbox.Origin) string {
	from, _ := smtpMailFrom(origin)
	return from
}

// imapSource is what an IMAP message's origin says of its folder, and
// whether it is archive mail (mailbridge import); zero for other sources.
func imapSource(origin mailbox.Origin) mailbox.IMAPOrigin {
	if origin.IMAP == nil {
		return mailbox.IMAPOrigin{}
	}
	return *origin.IMAP
}
