package reply

import (
	"slices"
	"strings"
)

// The line analysis without skipping the lines no rule can match: every
// line normalized up front, every rule asked. The tests hold analyze to
// the same results. (tidyHead is held to tidy by TestTidyHeadIsTidy.)

func referenceText(plain, html string) string {
	plain = sanitize(plain)
	html = sanitize(html)
	if hasText(html) && (!hasText(plain) || quoteMarkup(html)) {
		if s, ok := fromHTML(html); ok {
			return s
		}
	}
	if !hasText(plain) {
		return ""
	}
	a := referenceAnalyze(plain)
	if s := a.referenceClean(); s != "" {
		return s
	}
	if s := a.tidyHead(a.cut); s != "" {
		return s
	}
	return a.tidyHead(len(a.lines))
}

func referenceAnalyze(text string) *analysis {
	lines := strings.Split(text, "\n")
	a := &analysis{text: text, lines: lines, drop: make([]bool, len(lines)), cut: len(lines)}
	norm := make([]string, len(lines))
	for i, l := range lines {
		norm[i] = normalize(l)
	}
	for i := 0; i < len(lines); i++ {
		n := norm[i]
		if n == "" {
			continue
		}
		if isQuoted(n) {
			a.drop[i] = true
			continue
		}
		if k, strong := referenceAttribution(norm, i); k > 0 {
			next := referenceNextNonBlank(norm, i+k)
			if next == len(norm) || isQuoted(norm[next]) {
				for j := i; j < i+k; j++ {
					a.drop[j] = true
				}
				i += k - 1
				continue
			}
			if strong {
				a.cut = i
				return a
			}
		}
		if isSignatureDelimiter(n) || isMobileFooter(n) || isOriginalMarker(n) ||
			isForwardMarker(n) || referenceHeaderBlock(norm, i) {
			a.cut = i
			return a
		}
	}
	return a
}

func (a *analysis) referenceClean() string {
	if !slices.Contains(a.drop[:a.cut], true) {
		return a.tidyHead(a.cut)
	}
	kept := make([]string, 0, a.cut)
	for i := 0; i < a.cut; i++ {
		if !a.drop[i] {
			kept = append(kept, a.lines[i])
		}
	}
	return tidy(kept)
}

func referenceNextNonBlank(norm []string, i int) int {
	for i < len(norm) && norm[i] == "" {
		i++
	}
	return i
}

func referenceAttribution(norm []string, i int) (lines int, strong bool) {
	n := norm[i]
	if len(n) > 400 {
		return 0, false
	}
	if !strings.HasSuffix(n, ":") {
		if i+1 < len(norm) && strings.HasSuffix(norm[i+1], ":") {
			return referenceWrappedAttribution(norm, i)
		}
		return 0, false
	}
	if strongAttribution.MatchString(n) {
		return 1, true
	}
	if weakAttribution.MatchString(n) {
		return 1, false
	}
	return referenceWrappedAttribution(norm, i)
}

func referenceWrappedAttribution(norm []string, i int) (lines int, strong bool) {
	n := norm[i]
	if attributionStart.MatchString(n) && i+1 < len(norm) && norm[i+1] != "" && !isQuoted(norm[i+1]) {
		joined := n + " " + norm[i+1]
		if len(joined) <= 400 && strongAttribution.MatchString(joined) {
			return 2, true
		}
	}
	return 0, false
}

func referenceHeaderBlock(norm []string, i int) bool {
	if !maybeHeaderLine(norm[i]) || !headerLine.MatchString(norm[i]) {
		return false
	}
	var from, sentOrSubject bool
	seen := map[string]bool{}
	gap := 0
	for j := i; j < len(norm) && j < i+14; j++ {
		var m []string
		if maybeHeaderLine(norm[j]) {
			m = headerLine.FindStringSubmatch(norm[j])
		}
		if m == nil {
			if gap++; gap > 2 {
				break
			}
			continue
		}
		gap = 0
		field := m[1]
		seen[field] = true
		switch field {
		case "From", "Von", "De", "Van":
			from = true
		case "Sent", "Gesendet", "Envoyé", "Verzonden", "Enviado",
			"Subject", "Betreff", "Objet", "Onderwerp", "Asunto":
			sentOrSubject = true
		}
	}
	return from && sentOrSubject && len(seen) >= 3
}

// analysisPieces are lines, and parts of lines, that each rule of analyze
// acts on or nearly does, in the forms normalize maps: blanks and
// invisible runes at either end, tabs, non-breaking spaces, colons around
// the places the cheap tests look at.
var analysisPieces = []string{
	"", " ", "\t", "\u00a0", "\u200b", "\ufeff", "\u2007", "\u202f", "\v", "\u2028", "\u0085",
	"Hello support team, the invoice for order 4711 still shows the old address.",
	"Thanks", "ok", "x", "ü", "Grüße", "*", ":", "::", "a:", "abcdefghijklmn:", "abcdefghijklmno:x", "abcdefghijklmnop:x",
	">", "> quoted", ">> deeper", " > spaced", "\t> tabbed",
	"On 12 May 2024, Jane Doe <jane@example.org> wrote:", "on 1 jan wrote :", "On Monday Peter wrote:",
	"Am 12.03.2024 um 10:15 schrieb Anna Schmidt <", "anna@example.com>:", "john@example.com> wrote:",
	"Le 3 mars 2024, Jean a écrit :", "El 3 de marzo de 2024, Ana escribió:", "Op 3 maart 2024 schreef Jan:",
	"Jane Doe wrote:", "Max hat am Montag geschrieben:", "On", "Am", "le", "EL", "oP",
	"--", "-- ", "---", "__", "_____", "-----Original Message-----", "-----Ursprüngliche Nachricht-----",
	"---------- Forwarded message ---------", "Begin forwarded message:", "Anfang der weitergeleiteten Nachricht:",
	"Sent from my iPhone", "SENT FROM MY IPHONE", "sent with ProtonMail", "Get Outlook for iOS",
	"Von meinem iPhone gesendet", "Gesendet von meinem iPad", "Envoyé de mon iPhone", "Enviado desde mi iPhone",
	"Holen Sie sich Outlook für iOS", "Diese Nachricht wurde von meinem Android gesendet", "Verzonden vanaf mijn iPhone",
	"ſent from my iPhone", "sent", "get ", "von", "outlook", "diese ", "verstuurd met mijn iPhone",
	"From: Max Mustermann <max@example.de>", "Von: Max", "*Von:* Max", "De: Jean", "Sent: Monday", "Gesendet: Montag",
	"To: support@example.com", "An: Kundenservice", "Cc: x", "Subject: Abschlag", "Betreff: AW: Abschlag",
	"Date: Monday", "Reply-To: x", "Antwort an: y", "*Antwort an:* z", "From: Berlin", "To: Munich",
	strings.Repeat("long line ", 45) + "wrote:", strings.Repeat("x", 119), strings.Repeat("y", 130),
}

func randomAnalysisText(rng interface{ IntN(int) int }) string {
	var b strings.Builder
	for range rng.IntN(24) {
		for range 1 + rng.IntN(3) {
			b.WriteString(analysisPieces[rng.IntN(len(analysisPieces))])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
