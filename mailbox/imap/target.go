package imap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// ErrTarget marks a move target or error folder that does not exist and
// that the server refuses to create: a configuration error, reported at
// connect and by Probe, before any message is fetched. A move the server
// refuses into a folder that exists (no right to insert, over quota) is
// found only when it is tried, and is an ErrTarget too.
var ErrTarget = errors.New("folder cannot be created")

// targetRefused is a move refused at runtime: an ErrTarget, with its own
// text.
type targetRefused struct{ err error }

func (e targetRefused) Error() string        { return e.err.Error() }
func (e targetRefused) Unwrap() error        { return e.err }
func (e targetRefused) Is(target error) bool { return target == ErrTarget }

// targets are the folders a poller moves messages to, with the
// configuration key that names each.
func targets(after Action, errorFolder string) [][2]string {
	var out [][2]string
	if errorFolder != "" {
		out = append(out, [2]string{"errorFolder", errorFolder})
	}
	if after.Kind == ActionMove {
		out = append(out, [2]string{"afterProcess", after.Arg})
	}
	return out
}

// ensureFolder makes sure folder exists: it is created, and where the
// server refuses, LIST tells a folder that exists already from one the
// server will not have. The error for the latter names the folder and
// the key, and, where the personal namespace has a prefix the name lacks
// (INBOX. on Cyrus and Courier), the name to use instead.
func (c *conn) ensureFolder(key, folder string) error {
	createErr := c.do(func() error { return c.Create(folder, nil).Wait() })
	if createErr == nil {
		return nil
	}
	var imapErr *imap.Error
	if !errors.As(createErr, &imapErr) {
		return createErr // the connection failed, not the server's answer
	}
	if imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	var list []*imap.ListData
	if err := c.do(func() (err error) {
		list, err = c.List("", folder, nil).Collect()
		return err
	}); err != nil {
		return fmt.Errorf("LIST %s: %w", folder, err)
	}
	for _, l := range list {
		if sameMailbox(l.Mailbox, folder) && !hasAttr(l.Attrs, imap.MailboxAttrNonExistent) && !hasAttr(l.Attrs, imap.MailboxAttrNoSelect) {
			return nil
		}
	}
	err := fmt.Errorf("%w: %s %q does not exist and the server refuses to create it: %v", ErrTarget, key, folder, createErr)
	if hint := c.namespaceHint(folder); hint != "" {
		err = fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// namespaceHint suggests the name folder has in the server's personal
// namespace, when that has a prefix the name lacks; "" when there is
// nothing to suggest.
func (c *conn) namespaceHint(folder string) string {
	if !c.Caps().Has(imap.CapNamespace) {
		return ""
	}
	var ns *imap.NamespaceData
	if err := c.do(func() (err error) {
		ns, err = c.Namespace().Wait()
		return err
	}); err != nil || ns == nil {
		return ""
	}
	for _, p := range ns.Personal {
		if p.Prefix != "" && !strings.HasPrefix(strings.ToUpper(folder), strings.ToUpper(p.Prefix)) {
			return fmt.Sprintf("the server's personal folders are under %q: try %q", p.Prefix, p.Prefix+folder)
		}
	}
	return ""
}

// sameMailbox compares two mailbox names as IMAP does: INBOX, and the
// INBOX at the start of a hierarchy under it, in any case; the rest byte
// for byte.
func sameMailbox(a, b string) bool {
	return inboxUpper(a) == inboxUpper(b)
}

// inboxUpper writes a leading INBOX in upper case, when it is the whole
// name or followed by a hierarchy delimiter (any non-letter).
func inboxUpper(name string) string {
	const inbox = "INBOX"
	if len(name) < len(inbox) || !strings.EqualFold(name[:len(inbox)], inbox) {
		return name
	}
	if len(name) > len(inbox) {
		c := name[len(inbox)]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 {
			return name // INBOXES, Inbox2: another name
		}
	}
	return inbox + name[len(inbox):]
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}
