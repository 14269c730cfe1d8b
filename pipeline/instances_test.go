package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/postgres"
)

// flakyAnnounce is a PostgreSQL store whose announcements fail while fail
// is set (the instance's connection to the database broken, a pool too
// busy to announce in time).
type flakyAnnounce struct {
	*postgres.Store
	fail atomic.Bool
}

func (f *flakyAnnounce) Announce(ctx context.Context, ttl time.Duration) error {
	if f.fail.Load() {
		return errors.New("connection refused")
	}
	return f.Store.Announce(ctx, ttl)
}

// instances runs pipelines on one PostgreSQL schema against one fake API.
type instances struct {
	t    *testing.T
	dsn  string
	fake *testapi.Server
}

func newInstances(t *testing.T, schema string) *instances {
	return &instances{t: t, dsn: testenv.UsePostgres(t).Schema(t, schema), fake: testapi.New(t, testapi.Options{Token: token})}
}

// start opens an instance and runs its pipeline until the test ends; its
// announcements fail from the start if failing.
func (in *instances) start(failing bool) (*flakyAnnounce, *Pipeline) {
	fa, p := in.open(failing)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	in.t.Cleanup(func() {
		cancel()
		<-done
	})
	return fa, p
}

// open opens an instance, its store closed when the test ends, without
// running its pipeline.
func (in *instances) open(failing bool) (*flakyAnnounce, *Pipeline) {
	t := in.t
	st, err := postgres.Open(context.Background(), in.dsn)
	if err != nil {
		t.Fatal(err)
	}
	client := api.New(api.Options{
		BaseURL: in.fake.URL(), Token: token, Timeout: time.Minute, UserAgent: "mailbridge/test",
		Ticket: api.TicketOptions{Path: "/ticket", IDField: "id", Process: "batch",
			Fields: []string{"subchannelId", "from", "subject", "externalTicketId"}, Static: map[string]any{"channel": "email"}},
	})
	cfg := testConfig()
	cfg.Lease, cfg.CallTimeout = 2*time.Minute, time.Minute
	fa := &flakyAnnounce{Store: st}
	fa.fail.Store(failing)
	p := New(fa, client, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { st.Close() })
	return fa, p
}

func (in *instances) ingest(p *Pipeline, id string) {
	in.t.Helper()
	if _, err := p.Ingest(context.Background(), mailbox.Message{Raw: message(id), SubchannelID: 4,
		Origin: mailbox.Origin{Source: "cli", ReceivedAt: time.Now()}}); err != nil {
		in.t.Fatal(err)
	}
}

// A live instance that cannot announce itself for a while keeps the post
// it started: the others take its claims over only api.timeout after its
// announcement ran out, by when the post has ended, so it is stored once.
func TestSilentInstanceKeepsThePostItStarted(t *testing.T) {
	in := newInstances(t, "silent")
	// The API takes 25 s to store the post: past the 15 s announcement,
	// within api.timeout.
	in.fake.Inject(testapi.Fault{Method: http.MethodPost, Path: "/conversation", Delay: 25 * time.Second, Times: 1})
	aStore, a := in.start(false)
	in.ingest(a, "slow@example.org")
	testenv.WaitFor(t, 10*time.Second, "A's post", func() bool {
		return in.fake.CountRequests("", "/ticket") >= 1
	})
	aStore.fail.Store(true)
	in.start(false)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := in.fake.Wait(ctx, func(s testapi.State) bool { return s.CountByExternalID("slow@example.org") >= 1 }); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "A to record the delivery", func() bool {
		st, err := aStore.Stats(context.Background())
		return err == nil && st.Counts[store.Delivered] == 1
	})
	if n := in.fake.CountByExternalID("slow@example.org"); n != 1 {
		t.Errorf("conversation stored %d times; want 1", n)
	}
}

// An instance whose first announcement fails does not claim: others would
// take its claims over mid-post.
func TestUnannouncedInstanceDoesNotClaim(t *testing.T) {
	in := newInstances(t, "unannounced")
	in.fake.Inject(testapi.Fault{Method: http.MethodPost, Path: "/conversation", Delay: 5 * time.Second, Times: 1})
	aStore, a := in.start(true)
	in.ingest(a, "first@example.org")
	time.Sleep(time.Second)
	if st, err := aStore.Stats(context.Background()); err != nil || st.Counts[store.Queued] != 1 {
		t.Fatalf("queue of an instance that could not announce itself: %v, %v; want the message still queued", st.Counts, err)
	}
	in.start(false)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := in.fake.Wait(ctx, func(s testapi.State) bool { return s.CountByExternalID("first@example.org") >= 1 }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := in.fake.CountByExternalID("first@example.org"); n != 1 {
		t.Errorf("conversation stored %d times; want 1", n)
	}
}

// A claim that waited in memory (for the budget, behind its claim's
// earlier messages, in handed) while this instance could not announce
// itself may have been taken over and delivered by another instance
// meanwhile: once the announcements work again, its attempt does not post
// it a second time.
func TestClaimOutlivingLapsedAnnouncementIsNotPosted(t *testing.T) {
	in := newInstances(t, "lapsed")
	aStore, a := in.open(false)
	_, b := in.open(false)
	ctx := t.Context()
	actx, stop := context.WithCancel(ctx)
	announced := make(chan struct{})
	a.aliveUntil.Store(1) // not alive until announced, as Run has it
	go func() {
		defer close(announced)
		a.announce(actx, aStore, make(chan struct{}))
	}()
	defer func() { stop(); <-announced }()
	if _, err := a.Ingest(ctx, mailbox.Message{Raw: message("lapsed@example.org"), SubchannelID: 4,
		Origin: mailbox.Origin{Source: "cli", ReceivedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "A's announcement", a.mayClaim)
	claims, err := a.claim(ctx, 1)
	if err != nil || len(claims) != 1 {
		t.Fatalf("A's claim = %v, %v", claims, err)
	}
	// A's announcements fail for longer than it may claim; the others
	// see its liveness lease run out and take its claim over.
	aStore.fail.Store(true)
	testenv.WaitFor(t, 20*time.Second, "A to stop claiming", func() bool { return !a.mayClaim() })
	if err := aStore.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.store.(store.Instances).TakeOverDead(ctx, 0); err != nil || n != 1 {
		t.Fatalf("TakeOverDead = %d, %v; want A's claim", n, err)
	}
	if n, err := b.DeliverDue(ctx, 1); err != nil || n != 1 {
		t.Fatalf("B's DeliverDue = %d, %v", n, err)
	}
	if n := in.fake.CountByExternalID("lapsed@example.org"); n != 1 {
		t.Fatalf("B stored the conversation %d times; want 1", n)
	}
	// A announces itself again, and its claim's turn comes.
	aStore.fail.Store(false)
	testenv.WaitFor(t, 10*time.Second, "A's announcement again", a.mayClaim)
	a.attempt(ctx, &claims[0], nil)
	if n := in.fake.CountByExternalID("lapsed@example.org"); n != 1 {
		t.Errorf("conversation stored %d times; want 1", n)
	}
}
