package pipeline

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

// searchConfig is threadConfig with the ticket search on.
func searchConfig(comparator string) Config {
	cfg := threadConfig()
	cfg.Threading.Search = &Search{Key: "externalTicketId", Comparator: comparator}
	return cfg
}

// wipe starts over on an empty store, as an instance whose disk was lost.
func (h *harness) wipe() {
	h.t.Helper()
	h.store.Close()
	h.dir = h.t.TempDir()
	h.open()
}

// ruleOf is the rawData.thread.rule mail id was stored with.
func ruleOf(t *testing.T, a *testapi.Server, id string) any {
	t.Helper()
	th, _ := conversationOf(t, a, id).Payload.RawData["thread"].(map[string]any)
	return th["rule"]
}

// After the thread map is lost, a reply finds its ticket through the
// API's search by externalTicketId, and the link found spares the next
// reply the call.
func TestSearchFindsTicketAfterThreadMapIsWiped(t *testing.T) {
	for _, comparator := range []string{"in", "eq"} {
		t.Run(comparator, func(t *testing.T) {
			h := newHarnessConfig(t, searchConfig(comparator))
			h.ingestTo(chainMail{id: "root@x", subject: "help"})
			h.drain()
			ticket := conversationOf(t, h.api, "root@x").TicketID
			if n := h.api.CountRequests("POST", "/ticket/search"); n != 0 {
				t.Errorf("a mail without references searched %d times", n)
			}

			h.wipe()
			h.ingestTo(chainMail{id: "re1@x", subject: "Re: help", inReplyTo: "root@x", refs: []string{"root@x"}})
			h.ingestTo(chainMail{id: "re2@x", subject: "Re: help", inReplyTo: "other@y", refs: []string{"root@x", "other@y"}})
			h.drain()
			for _, id := range []string{"re1@x", "re2@x"} {
				if c := conversationOf(t, h.api, id); c.TicketID != ticket {
					t.Errorf("%s on ticket %d, want %d", id, c.TicketID, ticket)
				}
			}
			if got := ruleOf(t, h.api, "re1@x"); got != RuleSearch {
				t.Errorf("re1: rule %v, want %s", got, RuleSearch)
			}
			// re2 names root@x in References only: the link re1's search
			// left answers it without another search.
			if got := ruleOf(t, h.api, "re2@x"); got != RuleReferences {
				t.Errorf("re2: rule %v, want %s", got, RuleReferences)
			}
			if n := h.api.CountRequests("POST", "/ticket/search"); n != 1 {
				t.Errorf("%d searches, want 1", n)
			}
			if n := len(h.api.Tickets()); n != 1 {
				t.Errorf("%d tickets, want 1", n)
			}
		})
	}
}

// A reply to a thread enneo does not know opens a new ticket after one
// fruitless search.
func TestSearchWithoutHitOpensTicket(t *testing.T) {
	h := newHarnessConfig(t, searchConfig("in"))
	h.ingestTo(chainMail{id: "re@x", subject: "Re: old", inReplyTo: "lost@y", refs: []string{"lost@y"}})
	h.drain()
	if got := ruleOf(t, h.api, "re@x"); got != RuleNewTicket {
		t.Errorf("rule %v, want %s", got, RuleNewTicket)
	}
	if n := h.api.CountRequests("POST", "/ticket/search"); n != 1 {
		t.Errorf("%d searches, want 1", n)
	}
}

// An API that refuses the filter turns the step off with one warning;
// the mails are stored all the same.
func TestSearchRefusedFilterTurnsStepOff(t *testing.T) {
	h := newHarnessConfig(t, searchConfig("in"))
	// As enneo answers a filter key it does not know.
	h.api.Inject(testapi.Fault{Path: "/ticket/search", Status: http.StatusBadRequest})
	for _, id := range []string{"a@x", "b@x", "c@x"} {
		h.ingestTo(chainMail{id: id, subject: "Re: help " + id, inReplyTo: "lost-" + id})
	}
	h.drain()
	for _, id := range []string{"a@x", "b@x", "c@x"} {
		if got := ruleOf(t, h.api, id); got != RuleNewTicket {
			t.Errorf("%s: rule %v, want %s", id, got, RuleNewTicket)
		}
	}
	if n := h.api.CountRequests("POST", "/ticket/search"); n != 1 {
		t.Errorf("%d searches, want 1", n)
	}
	if n := strings.Count(h.logs.String(), "ticket search turned off"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, h.logs)
	}
}

// A search the API cannot answer now (5xx) retries the mail rather than
// open a second ticket for the thread.
func TestSearchOutageRetriesMail(t *testing.T) {
	h := newHarnessConfig(t, searchConfig("in"))
	h.ingestTo(chainMail{id: "root@x", subject: "help"})
	h.drain()
	ticket := conversationOf(t, h.api, "root@x").TicketID
	h.wipe()
	h.api.Inject(testapi.Fault{Path: "/ticket/search", Status: http.StatusServiceUnavailable, Times: 1})
	r := h.ingestTo(chainMail{id: "re@x", subject: "Re: help", inReplyTo: "root@x"})
	h.drain()
	if n := len(h.api.Conversations()); n != 1 {
		t.Fatalf("%d conversations after the failed search, want 1", n)
	}
	h.clock.Add(time.Hour)
	h.drain()
	if c := conversationOf(t, h.api, "re@x"); c.TicketID != ticket {
		t.Errorf("on ticket %d, want %d", c.TicketID, ticket)
	}
	if m := h.get(r.QueueID); m.Attempts != 2 {
		t.Errorf("%d attempts, want 2", m.Attempts)
	}
	if n := len(h.api.Tickets()); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
}

// A token that may store conversations but not search (403 on the
// search) turns the step off; the replies are delivered, not held back as
// if the token were refused everywhere.
func TestSearchForbiddenTurnsStepOff(t *testing.T) {
	h := newHarnessConfig(t, searchConfig("in"))
	h.api.Inject(testapi.Fault{Path: "/ticket/search", Status: http.StatusForbidden})
	for _, id := range []string{"a@x", "b@x"} {
		h.ingestTo(chainMail{id: id, subject: "Re: help " + id, inReplyTo: "lost-" + id})
	}
	h.drain()
	for _, id := range []string{"a@x", "b@x"} {
		if got := ruleOf(t, h.api, id); got != RuleNewTicket {
			t.Errorf("%s: rule %v, want %s", id, got, RuleNewTicket)
		}
	}
	if n := h.api.CountRequests("POST", "/ticket/search"); n != 1 {
		t.Errorf("%d searches, want 1", n)
	}
}

// A search that fails on every attempt holds the mail back for a few
// attempts, then the mail goes on without it instead of into the dead
// letters.
func TestSearchFailingForGoodIsPassedOver(t *testing.T) {
	h := newHarnessConfig(t, searchConfig("in"))
	h.api.Inject(testapi.Fault{Path: "/ticket/search", Status: http.StatusInternalServerError})
	r := h.ingestTo(chainMail{id: "re@x", subject: "Re: help", inReplyTo: "root@x"})
	for range searchRetries + 2 {
		h.drain()
		h.clock.Add(time.Hour)
	}
	if got := ruleOf(t, h.api, "re@x"); got != RuleNewTicket {
		t.Errorf("rule %v, want %s", got, RuleNewTicket)
	}
	if m := h.get(r.QueueID); m.State != store.Delivered || m.Attempts != searchRetries+1 {
		t.Errorf("queue: %s after %d attempts, want delivered after %d", m.State, m.Attempts, searchRetries+1)
	}
	if n := h.api.CountRequests("POST", "/ticket/search"); n != searchRetries+1 {
		t.Errorf("%d searches, want %d", n, searchRetries+1)
	}
}

// A ticket opened under the bare thread key, before tickets were scoped
// by subchannel, is still found by the search, and a new thread's ticket
// is keyed by subchannel.
func TestSearchFindsUnscopedTicket(t *testing.T) {
	for _, comparator := range []string{"in", "eq"} {
		t.Run(comparator, func(t *testing.T) {
			h := newHarnessConfig(t, searchConfig(comparator))
			legacy, err := h.p.api.CreateTicket(t.Context(), &api.NewTicket{SubchannelID: 4, From: "jane@example.org",
				Subject: "help", ExternalTicketID: "old-root@x"})
			if err != nil {
				t.Fatal(err)
			}
			h.ingestTo(chainMail{id: "old-re@x", subject: "Re: help", inReplyTo: "old-root@x", refs: []string{"old-root@x"}})
			h.ingestTo(chainMail{id: "new-root@x", subject: "other"})
			h.drain()
			if c := conversationOf(t, h.api, "old-re@x"); c.TicketID != int(legacy) {
				t.Errorf("reply on ticket %d, want the unscoped ticket %d", c.TicketID, legacy)
			}
			if got := ruleOf(t, h.api, "old-re@x"); got != RuleSearch {
				t.Errorf("rule %v, want %s", got, RuleSearch)
			}
			var keys []string
			for _, tk := range h.api.Tickets() {
				keys = append(keys, tk.ExternalTicketID)
			}
			if !slices.Contains(keys, "4:new-root@x") {
				t.Errorf("ticket keys %q, want 4:new-root@x", keys)
			}
		})
	}
}
