package mapper_test

import (
	"context"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mapper"
)

// TestSenderFallback walks the sender's fallback chain one step at a time:
// each case's From is unusable, and each removes the header the case
// before took the sender from.
func TestSenderFallback(t *testing.T) {
	const body = "Subject: s\nMessage-ID: <f@example.com>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\nbody\n"
	cases := []struct {
		name, header, envelope string
		from, fromName, source string
	}{
		{"From", "From: \"Müller, Bernd\" <bernd@example.com>\nReply-To: other@example.org\n", "",
			"bernd@example.com", "Müller, Bernd", ""},
		{"encoded From with comma", "From: =?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <Bernd.Mueller@example.com>\n" +
			"Return-Path: <prvs=0123456789=bernd.mueller@example.com>\n", "",
			"Bernd.Mueller@example.com", "Müller, Bernd", ""},
		{"Reply-To", "From: \"Müller, Bernd\" <>\nReply-To: Bernd <reply@example.com>\nSender: sender@example.com\n", "env@example.com",
			"reply@example.com", "Bernd", "reply-to"},
		{"Reply-To without name keeps From's", "From: \"Müller, Bernd\" <>\nReply-To: reply@example.com\n", "",
			"reply@example.com", "Müller, Bernd", "reply-to"},
		{"Sender", "From: Bernd\nReply-To: \"x\" <>\nSender: Office <sender@example.com>\nReturn-Path: <rp@example.com>\n", "env@example.com",
			"sender@example.com", "Office", "sender"},
		{"envelope", "From: \"Bernd\" <bernd>\nReturn-Path: <rp@example.com>\n", "prvs=0123456789=env@example.com",
			"env@example.com", "Bernd", "envelope"},
		{"bounce envelope is no address", "From: \"Bernd\" <bernd>\nReturn-Path: <prvs=0123456789=rp@example.com>\n", "<>",
			"rp@example.com", "Bernd", "return-path"},
		{"Return-Path", "Return-Path: <rp@example.com>\n", "",
			"rp@example.com", "", "return-path"},
		{"nothing", "From: undisclosed:;\nReturn-Path: <>\n", "<>",
			"", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := goldenOptions(t.Name())
			o.EnvelopeFrom = c.envelope
			res, err := mapper.Map(context.Background(), crlf(c.header+body), o)
			if err != nil {
				t.Fatal(err)
			}
			conv := res.Conversation
			if conv.From != c.from || conv.FromName != c.fromName {
				t.Errorf("from = %q %q, want %q %q", conv.From, conv.FromName, c.from, c.fromName)
			}
			src, _ := conv.RawData["senderSource"].(string)
			if src != c.source {
				t.Errorf("rawData.senderSource = %q, want %q", src, c.source)
			}
			if c.source != "" && !hasWarning(res, "sender taken from") {
				t.Errorf("no warning names the fallback: %q", res.Warnings)
			}
		})
	}
}

func TestAddressListKeepsGoodEntries(t *testing.T) {
	res := mapMsg(t, crlf(`
From: Max Kohl | [example.com] <kohl@example.com>
To: "Support" <support@example.net>; "Anna" <>, 'Ben Berg' <ben@example.org>,
Cc: "M`+"\xfc"+`ller, Bernd" <bernd@example.com>, carla@example.org (Carla Conte)
Subject: s
Message-ID: <k@example.com>

body
`))
	c := res.Conversation
	if c.From != "kohl@example.com" || c.FromName != "Max Kohl | [example.com]" {
		t.Errorf("from = %q %q", c.From, c.FromName)
	}
	if got := strings.Join(c.To, ","); got != "support@example.net,ben@example.org" {
		t.Errorf("to = %s", got)
	}
	if got := strings.Join(c.CCEmails, ","); got != `"Müller, Bernd" <bernd@example.com>,Carla Conte <carla@example.org>` {
		t.Errorf("cc = %s", got)
	}
	if !hasWarning(res, `To: dropped unreadable entry "\"Anna\" <>"`) {
		t.Errorf("no warning for the dropped entry: %q", res.Warnings)
	}
	if !hasWarning(res, "Cc: raw 8-bit bytes read as WINDOWS-1252") {
		t.Errorf("no warning for the guessed charset: %q", res.Warnings)
	}
}

func hasWarning(res *mapper.Result, part string) bool {
	for _, w := range res.Warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

// Raw ISO-2022-JP makes ASCII bytes stand for other characters, '<' and
// '@' among them. Decoded before the From header is parsed, it would turn
// the angle address every MTA and DMARC check reads into kanji of the name
// and leave the address in the name as the sender.
func TestRawISO2022JPCannotMoveTheSender(t *testing.T) {
	raw := []byte("From: victim@bank.example \x1b$B<attacker@evil.example>\x1b(B\r\nTo: support@example.com\r\n" +
		"Subject: refund\r\nMessage-ID: <jis@example.net>\r\n\r\nplease refund to my new account\r\n")
	res, err := mapper.Map(context.Background(), raw, goldenOptions(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Conversation.From; got != "attacker@evil.example" {
		t.Errorf("from = %q, want the angle address attacker@evil.example", got)
	}
}
