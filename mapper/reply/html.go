package reply

import (
	"strings"

	"github.com/inbucket/html2text"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// fromHTML cleans an HTML body. Clients mark their quotes in the markup
// far more reliably than in the text, so containers go first; the text
// rules then catch what the markup leaves unmarked (Outlook desktop's
// header block, typed signatures, mobile footers). ok is false when the
// HTML holds no text at all.
func fromHTML(src string) (string, bool) {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return "", false
	}
	prune(doc)
	if s := analyze(render(doc)).clean(); s != "" {
		return s, true
	}
	// Only a mail that is all quote gets here, so the second parse (x/net/html
	// has no deep copy to keep the unpruned tree) costs nothing in the
	// common case.
	full, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return "", false
	}
	fullText := render(full)
	if !hasText(fullText) {
		return "", false
	}
	return analyze(fullText).fallback(), true
}

func render(doc *html.Node) string {
	text, err := html2text.FromHTMLNode(doc)
	if err != nil {
		// html2text only fails when writing to its buffer fails.
		return ""
	}
	// html2text keeps &nbsp; as U+00A0; Outlook writes every empty
	// paragraph as one, and a reader wants plain spaces.
	return strings.ReplaceAll(text, "\u00a0", " ")
}

// action says what prune does with a node.
type action int

const (
	keep     action = iota
	remove          // the node and its subtree
	truncate        // the node and everything after it in document order
)

// classify knows the quote and signature containers of the common clients.
func classify(n *html.Node) action {
	if n.Type != html.ElementNode {
		return keep
	}
	id := attr(n, "id")
	switch id {
	case "divRplyFwdMsg", "x_divRplyFwdMsg", // Outlook on the web: header of the quoted mail
		"appendonsend", // Outlook on the web: the quote follows it
		"mail-editor-reference-message-container": // new Outlook
		return truncate
	case "Signature": // Outlook on the web
		return remove
	}
	if hasClass(n, "OutlookMessageHeader") {
		return truncate
	}
	switch {
	case n.DataAtom == atom.Blockquote && strings.EqualFold(attr(n, "type"), "cite"), // Apple Mail, Thunderbird
		n.DataAtom == atom.Blockquote && hasClass(n, "gmail_quote"),
		hasClass(n, "gmail_attr"),            // Gmail: "On … wrote:"
		hasClass(n, "moz-cite-prefix"),       // Thunderbird: "On … wrote:"
		hasClass(n, "moz-forward-container"), // Thunderbird forward
		hasClass(n, "moz-signature"),
		hasClass(n, "gmail_signature"),
		hasClass(n, "gmail_signature_prefix"), // Gmail's "-- " before the signature
		attr(n, "data-smartmail") == "gmail_signature",
		strings.Contains(attr(n, "class"), "yahoo_quoted"),
		strings.Contains(id, "yahoo_quoted"),
		attr(n, "name") == "quote", // GMX, WEB.DE
		attr(n, "name") == "quoted-content":
		return remove
	}
	return keep
}

// prune removes the quote and signature containers from the tree. It does
// not descend into a removed subtree: an Outlook header nested inside an
// Apple quote must not truncate the answers that follow that quote.
func prune(doc *html.Node) {
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) (stop bool) {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			switch classify(c) {
			case truncate:
				truncateAt(c)
				return true
			case remove:
				drop(c)
			default:
				if c.Type == html.ElementNode && hasClass(c, "gmail_quote") && !interleaved(c) {
					drop(c)
					break
				}
				unwrapIndent(c)
				wordLine(c)
				if walk(c) {
					return true
				}
			}
			c = next
		}
		return false
	}
	walk(doc)
}

// drop removes a container. Where it held a quote, an empty paragraph
// takes its place: html2text sets a quote apart as a paragraph of its
// own, as the text path leaves a blank line where it drops ">" lines, so
// the answers of an interleaved reply stay separate paragraphs. Other
// containers go without a trace, so that pruning never adds text.
func drop(n *html.Node) {
	if hasQuote(n) {
		n.Parent.InsertBefore(&html.Node{Type: html.ElementNode, DataAtom: atom.P, Data: "p"}, n)
	}
	n.Parent.RemoveChild(n)
}

func hasQuote(n *html.Node) bool {
	if n.DataAtom == atom.Blockquote {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasQuote(c) {
			return true
		}
	}
	return false
}

// truncateAt removes n and everything that follows it in document order.
func truncateAt(n *html.Node) {
	for ; n != nil && n.Parent != nil; n = n.Parent {
		for s := n.NextSibling; s != nil; {
			next := s.NextSibling
			n.Parent.RemoveChild(s)
			s = next
		}
	}
}

// interleaved tells a Gmail quote container the author answered inside
// (text between split blockquotes) from one that is all history: a plain
// top-post quote, or a forward whose body sits outside any blockquote.
func interleaved(n *html.Node) bool {
	quotes := 0
	var own strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				own.WriteString(c.Data)
			case c.DataAtom == atom.Blockquote:
				quotes++
			case classify(c) == keep:
				walk(c)
			}
		}
	}
	walk(n)
	return quotes > 0 && strings.TrimSpace(strings.ReplaceAll(own.String(), "\u00a0", " ")) != ""
}

// unwrapIndent turns Gmail's indent button, a borderless blockquote, back
// into a div so that the author's indented paragraph is not read as quote.
func unwrapIndent(n *html.Node) {
	if n.DataAtom != atom.Blockquote || attr(n, "type") != "" || attr(n, "class") != "" {
		return
	}
	style := strings.ReplaceAll(strings.ToLower(attr(n, "style")), " ", "")
	if strings.Contains(style, "border:none") {
		n.DataAtom = atom.Div
		n.Data = "div"
	}
}

// wordLine renders Word's paragraphs (Outlook desktop) as lines: Word
// sets their margins to zero and marks a paragraph break with an empty
// <p>&nbsp;</p>, so html2text's blank line after every <p> would put each
// line of an address or a greeting into a paragraph of its own.
func wordLine(n *html.Node) {
	if n.DataAtom == atom.P && strings.HasPrefix(attr(n, "class"), "Mso") {
		n.DataAtom = atom.Div
		n.Data = "div"
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}
