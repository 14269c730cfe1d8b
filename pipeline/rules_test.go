package pipeline

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/store"
)

func TestRulesFireInOrder(t *testing.T) {
	yes, five := true, 5.0
	cfg := testConfig()
	cfg.Subchannels[7] = Subchannel{Process: "batch", Direction: "in"}
	cfg.Auth = Auth{Trusted: []string{"mx.example.com"}}
	cfg.Rules = Rules{
		{Name: "vip", From: regexp.MustCompile(`@bigcustomer\.example$`), Then: RuleAction{Priority: "high", Tags: []string{"vip"}}},
		// A later rule's setting wins over an earlier one's.
		{Name: "vip-urgent", Subject: regexp.MustCompile(`(?i)outage`), Then: RuleAction{Priority: "urgent", Tags: []string{"outage"}}},
		{Name: "invoices", Header: map[string]*regexp.Regexp{"X-Mailer": regexp.MustCompile(`^InvoiceBot`)},
			Then: RuleAction{Subchannel: 7, Process: "false"}},
		{Name: "spam", SpamFlag: &yes, SpamScoreAbove: &five, Then: RuleAction{Drop: true}},
		{Name: "forged", Auth: "fail", Then: RuleAction{Hold: true}},
		// Never reached for dropped or held mail.
		{Name: "everything", SizeAbove: 1, Then: RuleAction{Tags: []string{"seen"}}},
	}
	h := newHarnessConfig(t, cfg)
	h.ingestOrigin([]byte(strings.Replace(string(mailFrom("v1@x", "boss@bigcustomer.example")), "Subject: about v1@x", "Subject: total outage", 1)),
		smtpOrigin(h, "boss@bigcustomer.example"))
	inv := h.ingestOrigin(mailFrom("i1@x", "bot@supplier.example", "X-Mailer: InvoiceBot 2.0"), smtpOrigin(h, "bot@supplier.example"))
	spam := h.ingestOrigin(mailFrom("s1@x", "x@spam.example", "X-Spam-Flag: YES", "X-Spam-Score: 12.5"), smtpOrigin(h, "x@spam.example"))
	lowSpam := h.ingestOrigin(mailFrom("s2@x", "y@spam.example", "X-Spam-Flag: YES", "X-Spam-Score: 3.1"), smtpOrigin(h, "y@spam.example"))
	forged := h.ingestOrigin([]byte("Authentication-Results: mx.example.com; dkim=none; spf=fail smtp.mailfrom=example.org; dmarc=fail header.from=example.org\r\n"+
		string(mailFrom("f1@x", "ceo@example.org"))), smtpOrigin(h, "ceo@example.org"))
	h.drain()

	c := conversationOf(t, h.api, "v1@x").Payload
	if c.Priority != "urgent" || !slices.Equal(firedOf(c.RawData), []string{"vip", "vip-urgent", "everything"}) {
		t.Errorf("vip: priority %q, rawData.rules %v", c.Priority, c.RawData["rules"])
	}
	if tags, _ := c.RawData["tags"].([]any); len(tags) != 3 {
		t.Errorf("vip: tags %v, want vip, outage, seen", tags)
	}
	if m := h.get(inv.QueueID); m.SubchannelID != 7 {
		t.Errorf("invoice queued for subchannel %d, want 7 (routed at ingest)", m.SubchannelID)
	}
	if c := conversationOf(t, h.api, "i1@x").Payload; c.SubchannelID != 7 || c.Process != "false" {
		t.Errorf("invoice: subchannel %d, process %q", c.SubchannelID, c.Process)
	}
	if m := h.get(spam.QueueID); m.State != store.Dropped || !strings.Contains(m.LastError, "dropped by rule spam") {
		t.Errorf("spam: state %s, last error %q; want dropped by the rule", m.State, m.LastError)
	}
	if m := h.get(lowSpam.QueueID); m.State != store.Delivered {
		t.Errorf("spam score below the limit: state %s, want delivered", m.State)
	}
	if m := h.get(forged.QueueID); m.State != store.Held || !strings.Contains(m.LastError, "held by rule forged") {
		t.Errorf("forged: state %s, last error %q", m.State, m.LastError)
	}
	// Released, the hold rule does not hold it again.
	if err := h.store.Release(context.Background(), forged.QueueID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m := h.get(forged.QueueID); m.State != store.Delivered {
		t.Errorf("released: state %s", m.State)
	}

	// A reload replaces the rules for mail delivered from then on.
	h.p.SetRules(nil)
	again := h.ingestOrigin(mailFrom("s3@x", "z@spam.example", "X-Spam-Flag: YES", "X-Spam-Score: 12.5"), smtpOrigin(h, "z@spam.example"))
	h.drain()
	if m := h.get(again.QueueID); m.State != store.Delivered {
		t.Errorf("after the rules were removed: state %s", m.State)
	}
}

func firedOf(rd map[string]any) []string {
	var out []string
	l, _ := rd["rules"].([]any)
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}
