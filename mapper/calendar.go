package mapper

import (
	"bytes"
	"strings"
	"time"

	"github.com/enneo/mailbridge/internal/enmime"
)

// summariseCalendar puts what, when, where and who of an invitation before
// the body: the .ics is an attachment nobody opens in a ticket, and the
// text of many invitations ("You have been invited") omits the event. The
// first text/calendar part is summarised; its copy in the alternatives is
// dropped when the same file is attached as well (Google Calendar sends
// both), and named invite.ics otherwise.
func (m *mapping) summariseCalendar(parts []*enmime.Part) {
	main := parts[0]
	for _, p := range parts {
		if p.ContentType == "text/calendar" {
			main = p
			break
		}
	}
	// The summary is a few lines: an invitation's event is near its start,
	// and a crafted one may be megabytes long.
	ev, ok := parseEvent(main.Content[:min(len(main.Content), maxCalendarBytes)])
	if ok {
		if ev.method == "" {
			ev.method = strings.ToUpper(ctParam(main, "method"))
		}
		m.note(ev.summary())
		m.warn("calendar %s summarised before the body", strings.ToLower(orName(ev.method, "event")))
	} else {
		m.warn("calendar part %s holds no readable event", main.PartID)
	}
	for _, p := range parts {
		if p == main || !bytes.Equal(p.Content, main.Content) {
			continue
		}
		if main.FileName == "" {
			m.replacePart(main, nil)
			m.warn("calendar part %s is also attached as %s: posted once", main.PartID, p.FileName)
			return
		}
	}
	if main.FileName == "" {
		main.FileName = "invite.ics"
	}
}

// event is the part of a VEVENT a summary shows.
type event struct {
	method, title, location, organizer, status string
	start, end                                 icalTime
	sequence                                   string
	rrule                                      string
	attendees                                  []attendee
}

type attendee struct{ name, partstat string }

type icalTime struct {
	t      time.Time
	date   bool   // VALUE=DATE: a whole day
	utc    bool   // ends in Z
	tzid   string // TZID parameter
	parsed bool
}

// parseEvent reads the method of a VCALENDAR and its first VEVENT
// (RFC 5545: lines unfolded, text values unescaped).
func parseEvent(b []byte) (event, bool) {
	var ev event
	inEvent, done, seen := false, false, false
	depth := 0 // components inside the VEVENT (VALARM...)
	for _, line := range unfold(string(b)) {
		name, params, value := splitContentLine(line)
		switch {
		case name == "BEGIN":
			if strings.EqualFold(value, "VEVENT") && !done && !inEvent {
				inEvent, seen = true, true
			} else if inEvent {
				depth++
			}
			continue
		case name == "END":
			if inEvent && depth > 0 {
				depth--
			} else if inEvent && strings.EqualFold(value, "VEVENT") {
				inEvent, done = false, true
			}
			continue
		case name == "METHOD" && !inEvent:
			ev.method = strings.ToUpper(strings.TrimSpace(value))
			continue
		}
		if !inEvent || depth > 0 {
			continue
		}
		switch name {
		case "SUMMARY":
			ev.title = unescapeText(value)
		case "LOCATION":
			ev.location = unescapeText(value)
		case "STATUS":
			ev.status = strings.ToUpper(value)
		case "SEQUENCE":
			ev.sequence = strings.TrimSpace(value)
		case "RRULE":
			ev.rrule = value
		case "DTSTART":
			ev.start = parseICalTime(params, value)
		case "DTEND":
			ev.end = parseICalTime(params, value)
		case "ORGANIZER":
			ev.organizer = person(params, value)
		case "ATTENDEE":
			if len(ev.attendees) < 100 {
				ev.attendees = append(ev.attendees, attendee{person(params, value), strings.ToUpper(param(params, "PARTSTAT"))})
			}
		}
	}
	return ev, seen
}

// unfold joins the continuation lines of an iCalendar text.
func unfold(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n ", "")
	s = strings.ReplaceAll(s, "\n\t", "")
	return strings.Split(s, "\n")
}

// splitContentLine splits "NAME;P=V;Q="x:y":value"; quoted parameter values
// may hold ':' and ';'.
func splitContentLine(line string) (name string, params []string, value string) {
	quoted := false
	start := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			quoted = !quoted
		case ';', ':':
			if quoted {
				continue
			}
			field := line[start:i]
			if name == "" && start == 0 {
				name = strings.ToUpper(field)
			} else {
				params = append(params, field)
			}
			start = i + 1
			if line[i] == ':' {
				return name, params, line[i+1:]
			}
		}
	}
	return strings.ToUpper(line), params, ""
}

func param(params []string, key string) string {
	for _, p := range params {
		if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, key) {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

var icalText = strings.NewReplacer(`\n`, "\n", `\N`, "\n", `\,`, ",", `\;`, ";", `\\`, `\`)

func unescapeText(s string) string { return strings.TrimSpace(icalText.Replace(s)) }

// person is "Name <address>" of an ORGANIZER or ATTENDEE.
func person(params []string, value string) string {
	addr := strings.TrimSpace(value)
	if len(addr) > 7 && strings.EqualFold(addr[:7], "mailto:") {
		addr = addr[7:]
	}
	name := strings.TrimSpace(param(params, "CN"))
	switch {
	case name == "" || strings.EqualFold(name, addr):
		return addr
	case addr == "":
		return name
	}
	return name + " <" + addr + ">"
}

func parseICalTime(params []string, value string) icalTime {
	value = strings.TrimSpace(value)
	it := icalTime{tzid: strings.Trim(param(params, "TZID"), `"`)}
	var err error
	switch {
	case strings.EqualFold(param(params, "VALUE"), "DATE") || len(value) == 8:
		it.date = true
		it.t, err = time.Parse("20060102", value)
	case strings.HasSuffix(value, "Z"):
		it.utc = true
		it.t, err = time.Parse("20060102T150405Z", value)
	default:
		it.t, err = time.Parse("20060102T150405", value)
	}
	it.parsed = err == nil
	return it
}

// zone is how the times of t are labelled: UTC, the TZID as given (the
// summary shows the time the sender chose; converting it needs the time zone
// database, which a host may lack), or nothing for floating time.
func (t icalTime) zone() string {
	switch {
	case t.utc:
		return "UTC"
	case t.tzid != "":
		return "(" + t.tzid + ")"
	}
	return ""
}

const dayLayout, clockLayout = "Mon 2 Jan 2006", "15:04"

// when is the start and end of the event, e.g. "Thu 27 Mar 2025 15:00 –
// 16:00 (Europe/Berlin)" or "Mon 7 Apr 2025 (all day)".
func (ev event) when() string {
	s, e := ev.start, ev.end
	if !s.parsed {
		return ""
	}
	if s.date {
		out := s.t.Format(dayLayout)
		if e.parsed && e.date && e.t.After(s.t.AddDate(0, 0, 1)) {
			out += " – " + e.t.AddDate(0, 0, -1).Format(dayLayout) // DTEND of a date is exclusive
		}
		return out + " (all day)"
	}
	out := s.t.Format(dayLayout + " " + clockLayout)
	switch {
	case !e.parsed || e.date:
	case e.zone() != s.zone():
		out += " " + s.zone() + " – " + e.t.Format(dayLayout+" "+clockLayout) + " " + e.zone()
		return strings.TrimSpace(out)
	case e.t.Format(dayLayout) == s.t.Format(dayLayout):
		out += " – " + e.t.Format(clockLayout)
	default:
		out += " – " + e.t.Format(dayLayout+" "+clockLayout)
	}
	if z := s.zone(); z != "" {
		out += " " + z
	}
	return out
}

var partstats = map[string]string{
	"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted",
	"DELEGATED": "delegated", "NEEDS-ACTION": "not yet answered",
}

var freqs = map[string]string{
	"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly", "YEARLY": "yearly",
}

// summary is the note put before the body.
func (ev event) summary() string {
	name := orName(ev.title, "(no title)")
	var head string
	switch {
	case ev.method == "CANCEL" || ev.status == "CANCELLED":
		head = "Cancelled: " + name
	case ev.method == "REPLY":
		head = "Reply: " + name
		if len(ev.attendees) > 0 {
			a := ev.attendees[0]
			if st, ok := partstats[a.partstat]; ok {
				// Outlook puts the answer before the title as well
				for _, prefix := range []string{"Accepted: ", "Declined: ", "Tentative: "} {
					name = strings.TrimPrefix(name, prefix)
				}
				head = "Reply: " + a.name + " has " + st + ": " + name
			}
		}
	case ev.method == "COUNTER":
		head = "New time proposed: " + name
	case ev.method == "REQUEST" && ev.sequence != "" && ev.sequence != "0":
		head = "Updated invitation: " + name
	case ev.method == "REQUEST":
		head = "Invitation: " + name
	default:
		head = "Event: " + name
	}
	lines := []string{head}
	if w := ev.when(); w != "" {
		lines = append(lines, "When: "+w)
	}
	if ev.rrule != "" {
		for _, part := range strings.Split(ev.rrule, ";") {
			if k, v, _ := strings.Cut(part, "="); strings.EqualFold(k, "FREQ") {
				if f, ok := freqs[strings.ToUpper(v)]; ok {
					lines = append(lines, "Repeats: "+f)
				}
			}
		}
	}
	if ev.location != "" {
		lines = append(lines, "Where: "+ev.location)
	}
	if ev.organizer != "" {
		lines = append(lines, "Organizer: "+ev.organizer)
	}
	return strings.Join(lines, "\n")
}
