package autoreply

import (
	"strings"
	"unicode/utf8"
)

// oofPhrases start the subjects responders generate: Outlook and Exchange
// ("Automatic reply:", "Automatische Antwort:", older "Out of Office:",
// "Abwesenheitsnotiz:"), web-mail and hosting responders ("Auto-Reply",
// "Autoreply:"), and the bare subjects people type into a vacation form.
// They are matched case-insensitively and only when followed by a
// separator or the end, so "Out of office question" is not one.
var oofPhrases = []string{
	"automatic reply",
	"automatic response",
	"auto reply",
	"auto-reply",
	"autoreply",
	"auto response",
	"auto-response",
	"autoresponse",
	"out of office",
	"out of the office",
	"out-of-office",
	"automatische antwort",
	"automatische abwesenheitsnotiz",
	"abwesenheitsnotiz",
	"abwesenheitsmeldung",
	"abwesend",
}

// oofSentences are the pieces of a typed sentence subject ("Ich bin bis
// Freitag nicht im Büro") that say the writer is away; the sentence must
// also start with the writer ("ich bin", "I am").
var (
	oofSubjects  = []string{"ich bin ", "i am ", "i'm ", "i’m ", "i will be "}
	oofSentences = []string{
		"im büro", "außer haus", "ausser haus", "wieder erreichbar", "nicht erreichbar", "im urlaub",
		"out of the office", "out of office", "back in the office", "away from the office", "on vacation", "on leave",
	}
)

// oofSubject returns the phrase that marks subject as a responder's, in
// the table's spelling so that Reasons do not vary with the mail's case,
// or "".
func oofSubject(subject string) string {
	s := stripTags(subject)
	for _, p := range oofPhrases {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) && separated(s[len(p):]) {
			return `"` + p + `"`
		}
	}
	if strings.ContainsRune(s, '?') {
		return "" // a question about being away, not a notice of it
	}
	for _, p := range oofSubjects {
		if len(s) < len(p) || !strings.EqualFold(s[:len(p)], p) {
			continue
		}
		lower := strings.ToLower(s)
		for _, q := range oofSentences {
			if strings.Contains(lower, q) {
				return `"` + strings.TrimSpace(p) + " … " + q + `"`
			}
		}
		break
	}
	return ""
}

// stripTags drops the markers gateways and filters put in front of a
// subject ("[EXTERNAL]", "[SPAM?]"), which a responder did not write.
// "Re:" and "AW:" are kept: they mean a person answered.
func stripTags(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < 3 && strings.HasPrefix(s, "["); i++ {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			break
		}
		s = strings.TrimSpace(s[end+1:])
	}
	return s
}

// separated reports whether rest, what follows a phrase, ends it: nothing,
// or a colon, dash or parenthesis after optional spaces.
func separated(rest string) bool {
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	switch r {
	case ':', '：', '-', '–', '—', '(':
		return true
	}
	return false
}
