package mapper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/spec"
	"github.com/enneo/mailbridge/mapper"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the mapper's output")

// goldenOptions are fixed so that a golden file depends on the message
// alone; ReceivedAt shows up wherever the Date header is missing or broken.
func goldenOptions(name string) mapper.Options {
	return mapper.Options{
		SubchannelID:        4,
		Process:             "batch",
		Direction:           "in",
		Location:            time.UTC,
		ReceivedAt:          time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		InlineImageMaxBytes: 262144,
		Source:              map[string]any{"source": "test", "file": name},
	}
}

// TestGolden maps every testdata/*.eml and compares the exact request body
// with testdata/golden/NAME.json; every body must also satisfy the API
// contract. Run with -update to accept new output, then read the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("golden corpus has %d messages, want at least 25", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			body := encode(t, raw, goldenOptions(name))
			if err := spec.ValidateStoreRequest(body.Bytes()); err != nil {
				t.Errorf("payload violates the API contract: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body.Bytes(), "", "  "); err != nil {
				t.Fatalf("payload is not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden file (run go test ./mapper -run TestGolden -update): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("payload differs from %s:\n%s", golden, lineDiff(string(want), pretty.String()))
			}
		})
	}
}

// TestSizeOfCutBodies checks the request's size, which takes the body
// fields' JSON sizes from the mapper where it measured them as it cut
// them, against the bytes written, for every message of the corpus and a
// large text, with body limits that cut them in many places.
func TestSizeOfCutBodies(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	raws := [][]byte{[]byte("Subject: large\r\n\r\n" + strings.Repeat("a \"quoted\" line & <more>\r\n", 20000))}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	for i, raw := range raws {
		for _, limit := range []int{1, 100, 150, 151, 333, 1000, 4096, 65536, 400000} {
			o := goldenOptions("size")
			o.BodyMaxBytes = limit
			t.Run(fmt.Sprintf("%d-%d", i, limit), func(t *testing.T) { encode(t, raw, o) })
		}
	}
}

// encode maps raw and returns the request body, which must be as long as
// the conversation's Size says.
func encode(t *testing.T, raw []byte, o mapper.Options) *bytes.Buffer {
	t.Helper()
	res, err := mapper.Map(context.Background(), raw, o)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return checkRequest(t, res.Conversation)
}

// checkRequest returns c's request body, which must be as long as c's
// Size says and whose fields but the attachments must be as encoding/json
// writes them: the body fields' noted escapes are theirs.
func checkRequest(t *testing.T, c *api.Conversation) *bytes.Buffer {
	t.Helper()
	var body bytes.Buffer
	if err := c.WriteJSON(&body); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Size(); err != nil || n != int64(body.Len()) {
		t.Errorf("Size() = %d, %v; the payload is %d bytes", n, err, body.Len())
	}
	var ref bytes.Buffer
	enc := json.NewEncoder(&ref)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSuffix(ref.Bytes(), []byte("}\n")); !bytes.HasPrefix(body.Bytes(), want) {
		t.Errorf("the payload's fields differ from encoding/json's:\n%s", lineDiff(string(want), body.String()))
	}
	return &body
}

// lineDiff shows the first lines that differ; enough to see what changed
// without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, clip(wl), clip(gl))
			shown++
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
