package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// observed is one call as Options.Observe saw it.
type observed struct {
	op     string
	status int
	failed bool
	took   time.Duration
}

// observations collects what Options.Observe reports.
type observations struct {
	mu    sync.Mutex
	calls []observed
}

func (o *observations) observe(op string, status int, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observed{op, status, err != nil, took})
}

func (o *observations) get() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

func TestObserveSeesEveryCall(t *testing.T) {
	var obs observations
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/mind/ticket" {
			time.Sleep(20 * time.Millisecond)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":7}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"maintenance"}`)
	}, func(o *Options) { o.Observe = obs.observe })
	if _, err := c.CreateTicket(context.Background(), &NewTicket{SubchannelID: 4, Subject: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StoreConversation(context.Background(), 7, testConversation()); err == nil {
		t.Fatal("store on a 503 succeeded")
	}
	calls := obs.get()
	if len(calls) != 2 || calls[0].op != opCreateTicket || calls[0].status != 201 || calls[0].failed ||
		calls[1].op != opStoreConversation || calls[1].status != 503 || !calls[1].failed {
		t.Fatalf("observed %+v, want a 201 ticket creation and a failed 503 store", calls)
	}
	if calls[0].took < 20*time.Millisecond {
		t.Errorf("ticket creation took %s by the observer, the server alone 20ms", calls[0].took)
	}
}

func TestObserveCallWithoutAnswer(t *testing.T) {
	var obs observations
	down := New(Options{BaseURL: "http://" + testenv.FreeAddr(t), Token: token, Timeout: time.Second, Observe: obs.observe})
	if _, err := down.Subchannels(context.Background()); err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	if calls := obs.get(); len(calls) != 1 || calls[0].op != opListSubchannels || calls[0].status != 0 || !calls[0].failed {
		t.Errorf("refused connection observed as %+v, want status 0 and an error", calls)
	}
}
