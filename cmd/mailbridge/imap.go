package main

// imapSources builds one poller per folder of each mailboxes[] entry.
func imapSources(a *app) ([]source, error) {
	if n := len(a.cfg.Mailboxes); n > 0 {
		return nil, usagef("mailboxes: %d configured, but this build has no IMAP source yet", n)
	}
	return nil, nil
}
