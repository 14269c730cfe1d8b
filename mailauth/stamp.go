package mailauth

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// Stamper verifies a message received by SMTP and renders the verdict as
// the Authentication-Results header to put on top of it.
type Stamper struct {
	Verifier   *Verifier
	AuthservID string
	// Timeout bounds one message's checks (default 15s).
	Timeout time.Duration
	Log     *slog.Logger
}

// AuthenticationResults checks raw as sent from ip (HELO helo, MAIL FROM
// mailFrom) and returns the header.
func (s *Stamper) AuthenticationResults(ctx context.Context, ip netip.Addr, helo, mailFrom string, raw []byte) []byte {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	started := time.Now()
	r := s.Verifier.Verify(ctx, Envelope{IP: ip, Helo: helo, MailFrom: mailFrom}, raw)
	if s.Log != nil && s.Log.Enabled(ctx, slog.LevelDebug) {
		s.Log.Debug("sender verified", "client_ip", ip.String(), "mail_from", mailFrom, "dkim", r.DKIM,
			"spf", r.SPF, "dmarc", r.DMARC, "from_domain", r.FromDomain, "took", time.Since(started))
	}
	return Header(s.AuthservID, r)
}
