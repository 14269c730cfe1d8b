package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/pipeline"
)

// subchannelLister is the part of api.Client the subchannel check needs.
type subchannelLister interface {
	Subchannels(ctx context.Context) ([]api.Subchannel, error)
}

// listError is a failure to fetch the API's subchannels, as opposed to a
// list that contradicts the configuration.
type listError struct{ err error }

func (e listError) Error() string { return "cannot verify subchannels: " + e.err.Error() }
func (e listError) Unwrap() error { return e.err }

// unreachable reports whether the API could not be asked at all (network
// trouble, timeout, 429, 5xx): the configuration may well be right, so the
// daemon may start anyway when told to. A refused token or a 4xx is not
// unreachable: the API answered, and what it said needs fixing.
func (e listError) unreachable() bool { return api.Classify(e.err) == api.Retryable }

// notOffered reports a 404 from GET /settings/subchannel: an API (or a
// proxy in front of it) that does not serve the listing. Delivery does not
// depend on it, so the daemon warns and starts rather than refusing.
func (e listError) notOffered() bool {
	ae, ok := errors.AsType[*api.Error](e.err)
	return ok && ae.Status == http.StatusNotFound
}

// verifySubchannels checks every configured subchannel against the API:
// it must exist, be of channel email and be enabled, or enneo rejects (or
// misfiles) every mail routed to it. All mismatches come back together as
// one usageError; a failed listing is a listError.
func verifySubchannels(ctx context.Context, cfg *config.Config, l subchannelLister) error {
	known, err := l.Subchannels(ctx)
	if err != nil {
		return listError{err}
	}
	if problems := subchannelProblems(cfg.Subchannels, known); len(problems) > 0 {
		return usageError{errors.Join(problems...)}
	}
	return nil
}

func subchannelProblems(configured []config.Subchannel, known []api.Subchannel) []error {
	byID := make(map[int64]api.Subchannel, len(known))
	var email []api.Subchannel
	for _, s := range known {
		byID[s.ID] = s
		if s.Channel == "email" && s.Enabled {
			email = append(email, s)
		}
	}
	slices.SortFunc(email, func(a, b api.Subchannel) int { return cmp.Compare(a.ID, b.ID) })
	names := make([]string, len(email))
	for i, s := range email {
		names[i] = strconv.FormatInt(s.ID, 10) + " " + s.Name
	}
	usable := strings.Join(names, ", ")
	if usable == "" {
		usable = "none"
	}
	var errs []error
	for i, c := range configured {
		path := fmt.Sprintf("subchannels[%d].id %d", i, c.ID)
		s, ok := byID[int64(c.ID)]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no such subchannel; known email subchannels: %s", path, usable))
		case s.Channel != "email":
			errs = append(errs, fmt.Errorf("%s: subchannel %q is channel %s, not email", path, s.Name, s.Channel))
		case !s.Enabled:
			errs = append(errs, fmt.Errorf("%s: subchannel %q is disabled", path, s.Name))
		}
	}
	return errs
}

// listingProber is the part of api.Client that asks whether the API offers
// the conversation listing.
type listingProber interface {
	ProbeConversationList(ctx context.Context) error
}

// conversationListing says whether the API lists a ticket's
// conversations, which a retry after an uncertain attempt (a 5xx, a
// timeout) needs to find out whether that attempt stored the conversation.
// missing is true only when the API answered that it has no such listing;
// err is set when the question could not be put (network, token).
func conversationListing(ctx context.Context, c pipeline.Conversations) (missing bool, err error) {
	p, ok := c.(listingProber)
	if !ok {
		return false, nil
	}
	err = p.ProbeConversationList(ctx)
	if errors.Is(err, api.ErrNoConversationList) {
		return true, err
	}
	return false, err
}

// listingMissingWarning is what the daemon and check say of an API
// without the conversation listing.
const listingMissingWarning = "the API does not list a ticket's conversations (GET /ticket/{id}/conversation): " +
	"after a 5xx or a timeout on a store, mail is posted again unchecked and may be stored twice"

func subchannelsCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("subchannels", "[-c config.yaml]", stderr)
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usagef("subchannels: takes no arguments")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.DryRun() {
		return usagef("subchannels: dry run (no api.baseURL): there is no API to ask")
	}
	list, err := newAPI(cfg).Subchannels(context.Background())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCHANNEL\tENABLED")
	for _, s := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%t\n", s.ID, safetext.Line(s.Name), safetext.Line(s.Channel), s.Enabled)
	}
	return tw.Flush()
}
