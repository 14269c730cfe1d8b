package autoreply_test

import (
	"bufio"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/enneo/mailbridge/mapper/autoreply"
)

func Example_classify() {
	raw := "From: Iris Ivanova <iris@example.com>\r\n" +
		"Subject: Automatic reply: Your ticket 2025-0322\r\n" +
		"Auto-Submitted: auto-replied\r\n" +
		"Content-Type: text/plain\r\n" +
		"\r\n" +
		"I am out of the office until 31 March.\r\n"
	h, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(raw))).ReadMIMEHeader()

	v := autoreply.Classify(autoreply.Input{
		Header:        h,
		ReturnPath:    "", // MAIL FROM:<>
		HasReturnPath: true,
		Subject:       "Automatic reply: Your ticket 2025-0322",
		From:          "iris@example.com",
	})
	if v.Class != autoreply.Human {
		fmt.Printf("%s (%s)\n", v.Class, v.Reason)
	}
	// Output: auto-reply (Auto-Submitted: auto-replied)
}
