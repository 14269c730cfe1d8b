package mapper_test

import (
	"context"
	"testing"

	"github.com/enneo/mailbridge/mapper"
)

// FuzzPayloadMatchesJSON maps a mail with a fuzzed text or HTML body
// under a small body limit, so that the body fields are cut and escaped as
// they are made, and holds the request to encoding/json and to Size.
func FuzzPayloadMatchesJSON(f *testing.F) {
	f.Add("a \"quoted\" line\r\n> quote\r\n-- \r\nsig\xff\u2028<&>", uint16(200), false)
	f.Add("line\rline\r\n\r\nOn 1 May 2024 Jane <j@x> wrote:\n> q\n", uint16(120), true)
	f.Fuzz(func(t *testing.T, body string, limit uint16, html bool) {
		ct := "text/plain"
		if html {
			ct = "text/html"
		}
		raw := []byte("Subject: s\r\nContent-Type: " + ct + "; charset=utf-8\r\n\r\n" + body)
		res, err := mapper.Map(context.Background(), raw, mapper.Options{BodyMaxBytes: int(limit) + 1})
		if err != nil {
			return
		}
		checkRequest(t, res.Conversation)
	})
}
