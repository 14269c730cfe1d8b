package main

// smtpSources builds the SMTP/LMTP listeners of smtp.listeners.
func smtpSources(a *app) ([]source, error) {
	// Listeners configured without a source to serve them would look like
	// a mail server that never receives mail: refuse to start instead.
	if n := len(a.cfg.SMTP.Listeners); n > 0 {
		return nil, usagef("smtp.listeners: %d configured, but this build has no SMTP source yet", n)
	}
	return nil, nil
}
