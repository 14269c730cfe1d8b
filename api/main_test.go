package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// token is the API token of every test client; it must never be printed.
const token = "tok-3f9a1c77e2b04d6d-secret"

// TestMain sends everything that may be logged during the tests (slog,
// the log package, and stderr, where resty's default logger writes) to a
// buffer, and fails the run if the token shows up there.
func TestMain(m *testing.M) {
	var out testenv.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.SetOutput(&out)
	stderr := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	os.Stderr = w
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, r)
		close(copied)
	}()

	code := m.Run()

	os.Stderr = stderr
	w.Close()
	<-copied
	if strings.Contains(out.String(), token) {
		fmt.Fprintln(os.Stderr, "FAIL: the API token appears in the log output")
		code = 1
	}
	if testing.Verbose() && out.Len() > 0 {
		fmt.Fprintf(os.Stderr, "log output during the tests:\n%s", out.String())
	}
	os.Exit(code)
}

// apiError checks that err is an *Error whose printed forms hold no token,
// and returns it.
func apiError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, token) {
			t.Fatalf("the token appears in the error: %s", s)
		}
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *api.Error", err, err)
	}
	return e
}

// testContext bounds every test call, whatever the client's own timeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
