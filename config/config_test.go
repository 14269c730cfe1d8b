package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// valid is the smallest configuration that passes, with two subchannels
// for the rules that refer to one.
const valid = `
subchannels:
  - id: 1
  - id: 4
`

// mailbox is a valid mailboxes entry, to be varied by a test.
const mailbox = `
  - name: support
    subchannelId: 1
    host: imap.example.com
    username: bob
    password: pw
`

// messages returns err's problems as "path: msg", without line numbers.
func messages(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is a %T, want *ValidationError", err, err)
	}
	var msgs []string
	for _, e := range ve.Errors {
		e.Line = 0
		msgs = append(msgs, e.Error())
	}
	return msgs
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return c
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // every problem, in order; none for a valid doc
	}{
		// log
		{"log level", valid + "log: {level: verbose}",
			[]string{`log.level: must be one of debug, info, warn, error (got "verbose")`}},
		{"log format", valid + "log: {format: xml}",
			[]string{`log.format: must be one of text, json (got "xml")`}},
		{"log json", valid + "log: {level: debug, format: json}", nil},

		// store
		{"postgres", valid + "store: {driver: postgres, dsn: 'postgres://mb:pw@db/mailbridge'}", nil},
		{"postgres key=value", valid + "store: {driver: postgres, dsn: 'host=db dbname=mailbridge'}", nil},
		{"postgres without dsn", valid + "store: {driver: postgres}",
			[]string{`store.dsn: required for the postgres driver`}},
		{"postgres dsn of neither form", valid + "store: {driver: postgres, dsn: db.example.com}",
			[]string{`store.dsn: must be a postgres:// URL or key=value pairs (host=... dbname=...)`}},
		{"postgres bad URL", valid + "store: {driver: postgres, dsn: 'postgres://mb:pw@db:port/x'}",
			[]string{`store.dsn: not a valid postgres:// URL`}},
		{"postgres with path", valid + "store: {driver: postgres, dsn: 'host=db', path: x.db}",
			[]string{`store.path: only for the sqlite driver (store.driver is postgres)`}},
		{"sqlite with dsn", valid + "store: {dsn: 'host=db'}",
			[]string{`store.dsn: only for the postgres driver (store.driver is sqlite)`}},
		{"unknown driver", valid + "store: {driver: mysql}",
			[]string{`store.driver: must be one of sqlite, postgres (got "mysql")`}},

		// api
		{"baseURL without scheme", valid + "api: {baseURL: demo.enneo.ai, token: t}",
			[]string{`api.baseURL: must be an absolute http(s) URL (got "demo.enneo.ai")`}},
		{"baseURL ftp", valid + "api: {baseURL: 'ftp://enneo.ai/x', token: t}",
			[]string{`api.baseURL: must be an absolute http(s) URL (got "ftp://enneo.ai/x")`}},
		{"baseURL without token", valid + "api: {baseURL: 'https://demo.enneo.ai/api/mind'}",
			[]string{`api.token: required when api.baseURL is set (or use api.tokenFile)`}},
		{"baseURL with tokenFile", valid + "api: {baseURL: 'https://demo.enneo.ai/api/mind', tokenFile: /run/secrets/t}", nil},
		{"baseURL in dry run", valid + "api: {baseURL: 'http://localhost:8080', dryRun: true}", nil},
		{"timeout", valid + "api: {timeout: -1s}",
			[]string{`api.timeout: must be positive (got -1s)`}},
		{"ticket path", valid + "api: {ticket: {path: ticket}}",
			[]string{`api.ticket.path: must start with "/" (got "ticket")`}},
		{"ticket process", valid + "api: {ticket: {process: later}}",
			[]string{`api.ticket.process: must be one of realtime, batch, false (got "later")`}},
		{"ticket process false", valid + "api: {ticket: {process: false}}", nil},
		{"ticket fields", valid + "api: {ticket: {fields: [subject, fromNme, subject, rawData, body]}}",
			[]string{
				`api.ticket.fields[1]: unknown field "fromNme" (did you mean "fromName"?)`,
				`api.ticket.fields[2]: duplicate field "subject" (also api.ticket.fields[0])`,
				`api.ticket.fields[4]: "body" is chosen by api.ticket.ticketBody (none, subject-only or full)`,
			}},
		{"ticket field unlike any", valid + "api: {ticket: {fields: [attachments]}}",
			[]string{`api.ticket.fields[0]: unknown field "attachments" (known: subchannelId, from, fromName, ` +
				`to, cc, subject, createdAt, externalTicketId, rawData)`}},
		{"ticket body", valid + "api: {ticket: {ticketBody: subject-only}}", nil},
		{"ticket body unknown", valid + "api: {ticket: {ticketBody: html}}",
			[]string{`api.ticket.ticketBody: must be one of none, subject-only, full (got "html")`}},
		{"ticket fields empty", valid + "api: {ticket: {fields: []}}", nil},

		{"keepDelivered", valid + "store: {keepDelivered: -1h}", []string{`store.keepDelivered: must be positive (got -1h0m0s)`}},

		// delivery
		{"workers high", valid + "delivery: {workers: 257}", []string{`delivery.workers: must be 1-256`}},
		{"workers negative", valid + "delivery: {workers: -1}", []string{`delivery.workers: must be 1-256`}},
		{"workers max", valid + "delivery: {workers: 256}", nil},
		{"maxAttempts", valid + "delivery: {maxAttempts: -3}", []string{`delivery.maxAttempts: must be at least 1`}},
		{"durations", valid + "delivery: {maxAge: -1h, authRetry: -1s, pollInterval: -1ms, backoff: {initial: -1s}}",
			[]string{
				`delivery.authRetry: must be positive (got -1s)`,
				`delivery.backoff.initial: must be positive (got -1s)`,
				`delivery.maxAge: must be positive (got -1h0m0s)`,
				`delivery.pollInterval: must be positive (got -1ms)`,
			}},
		{"backoff order", valid + "delivery: {backoff: {initial: 1h}}",
			[]string{`delivery.backoff.initial: must not exceed delivery.backoff.max (30m0s)`}},
		{"backoff max", valid + "delivery: {backoff: {initial: 1s, max: -1s}}",
			[]string{
				`delivery.backoff.initial: must not exceed delivery.backoff.max (-1s)`,
				`delivery.backoff.max: must be positive (got -1s)`,
			}},
		{"lease", valid + "delivery: {lease: 30s}",
			[]string{`delivery.lease: must be longer than api.timeout (1m0s): a lease that runs out ` +
				`while a request is still in flight lets a second worker post the same message`}},
		{"lease equal", valid + "api: {timeout: 5m}",
			[]string{`delivery.lease: must be longer than api.timeout (5m0s): a lease that runs out ` +
				`while a request is still in flight lets a second worker post the same message`}},
		{"lease longer", valid + "api: {timeout: 5m}\ndelivery: {lease: 6m}", nil},
		{"invalid duration", valid + "delivery: {lease: 5 minutes}",
			[]string{`delivery.lease: invalid duration "5 minutes"`}},
		{"duration without unit", valid + "delivery: {lease: 300}",
			[]string{`delivery.lease: invalid duration "300" (missing unit, e.g. "300s")`}},
		{"duration mapping", valid + "delivery: {lease: {m: 5}}",
			[]string{`delivery.lease: must be a duration such as 30s, 5m or 72h`}},

		// mapper
		{"timezone", valid + "mapper: {timezone: Europe/Berln}",
			[]string{`mapper.timezone: unknown time zone "Europe/Berln"`}},
		{"timezone Berlin", valid + "mapper: {timezone: Europe/Berlin}", nil},
		{"inline negative", valid + "mapper: {inlineImageMaxBytes: -1}",
			[]string{`mapper.inlineImageMaxBytes: must not be negative (0 disables inlining)`}},
		{"body limit too small", valid + "mapper: {bodyMaxBytes: 1000}",
			[]string{`mapper.bodyMaxBytes: must be at least 65536: a body field shorter than that cuts ordinary mail`}},
		{"body limit and timeout", valid + "mapper: {bodyMaxBytes: 4194304, timeout: 2m}", nil},
		{"timeout negative", valid + "mapper: {timeout: -1s}", []string{`mapper.timeout: must not be negative`}},

		// subchannels
		{"no subchannels key", "log: {level: info}",
			[]string{`subchannels: at least one subchannel is required`}},
		{"empty subchannels", "subchannels: []",
			[]string{`subchannels: at least one subchannel is required`}},
		{"subchannel id", "subchannels: [{id: 1}, {name: x}, {id: -2}]",
			[]string{
				`subchannels[1].id: must be at least 1 (the enneo subchannel id)`,
				`subchannels[2].id: must be at least 1 (the enneo subchannel id)`,
			}},
		{"duplicate subchannel", "subchannels: [{id: 4}, {id: 5}, {id: 4}]",
			[]string{`subchannels[2].id: duplicate subchannel 4 (also subchannels[0])`}},
		{"subchannel enums", "subchannels: [{id: 1, process: now, direction: sideways}]",
			[]string{
				`subchannels[0].direction: must be one of in, out, internal (got "sideways")`,
				`subchannels[0].process: must be one of realtime, batch, false (got "now")`,
			}},
		{"subchannel enums ok", "subchannels: [{id: 1, process: false, direction: internal}, {id: 2, process: realtime, direction: out}]", nil},

		// smtp
		{"listener", valid + "smtp: {listeners: [{name: a, address: '127.0.0.1:2525', mode: lmtp}, {name: b, address: ':25'}]}", nil},
		{"listener address", valid + "smtp: {listeners: [{address: localhost}, {address: ':0'}, {address: ':smtp'}, {address: ':65536'}]}",
			[]string{
				`smtp.listeners[0].address: must be host:port (got "localhost")`,
				`smtp.listeners[1].address: port must be 1-65535 (got "0")`,
				`smtp.listeners[2].address: port must be 1-65535 (got "smtp")`,
				`smtp.listeners[3].address: port must be 1-65535 (got "65536")`,
			}},
		{"listener mode", valid + "smtp: {listeners: [{address: ':25', mode: esmtp}]}",
			[]string{`smtp.listeners[0].mode: must be one of smtp, lmtp (got "esmtp")`}},
		{"listener names", valid + "smtp: {listeners: [{name: mta, address: ':25'}, {name: mta, address: ':26'}, {address: ':27'}, {address: ':27'}]}",
			[]string{
				`smtp.listeners[1].name: duplicate listener "mta" (also smtp.listeners[0])`,
				`smtp.listeners[3].name: duplicate listener ":27" (also smtp.listeners[2])`,
			}},
		{"routes", valid + "smtp: {routes: [{address: support@example.com, subchannelId: 1}, {address: '*@help.example.com', subchannelId: 4}]}", nil},
		{"route address", valid + "smtp: {routes: [{address: support, subchannelId: 1}, {address: 'sup*@x.com', subchannelId: 1}, {address: 'a@b@c', subchannelId: 1}, {address: '@x.com', subchannelId: 1}, {address: '*@', subchannelId: 1}]}",
			[]string{
				`smtp.routes[0].address: must be local@domain or *@domain (got "support")`,
				`smtp.routes[1].address: must be local@domain or *@domain (got "sup*@x.com")`,
				`smtp.routes[2].address: must be local@domain or *@domain (got "a@b@c")`,
				`smtp.routes[3].address: must be local@domain or *@domain (got "@x.com")`,
				`smtp.routes[4].address: must be local@domain or *@domain (got "*@")`,
			}},
		{"route subchannel", valid + "smtp: {routes: [{address: a@x.com, subchannelId: 9}, {address: b@x.com}]}",
			[]string{
				`smtp.routes[0].subchannelId: unknown subchannel 9 (configured: 1, 4)`,
				`smtp.routes[1].subchannelId: required`,
			}},
		{"duplicate route", valid + `
smtp:
  routes:
    - {address: support@example.com, subchannelId: 1}
    - {address: '*@example.com', subchannelId: 1}
    - {address: sales@example.com, subchannelId: 4}
    - {address: Support@Example.COM, subchannelId: 4}
`,
			[]string{`smtp.routes[3].address: duplicate route "Support@Example.COM" (also smtp.routes[0])`}},
		{"idna route", valid + `
smtp:
  routes:
    - {address: '*@bücher.example', subchannelId: 1}
    - {address: '*@XN--BCHER-KVA.example', subchannelId: 4}
    - {address: 'kasse@xn--zzzzz-999.example', subchannelId: 4}
    - {address: 'info@-shop.example', subchannelId: 4}
    - {address: 'info@xn--mller-kva.example', subchannelId: 4}
`,
			[]string{
				`smtp.routes[1].address: duplicate route "*@XN--BCHER-KVA.example" (also smtp.routes[0])`,
				`smtp.routes[2].address: not a valid domain name: domain "xn--zzzzz-999.example": idna: invalid label "zzzzz-999"`,
				`smtp.routes[3].address: not a valid domain name: domain "-shop.example": idna: invalid label "-shop"`,
			}},

		// mailboxes
		{"mailbox", valid + "mailboxes:" + mailbox, nil},
		{"mailbox required", valid + "mailboxes:\n  - folders: [INBOX]\n",
			[]string{
				`mailboxes[0].host: required`,
				`mailboxes[0].name: required`,
				`mailboxes[0].password: required (or use passwordFile)`,
				`mailboxes[0].subchannelId: required`,
				`mailboxes[0].username: required`,
			}},
		{"mailbox name", valid + "mailboxes:" + mailbox + strings.Replace(mailbox, "bob", "alice", 1),
			[]string{`mailboxes[1].name: duplicate mailbox "support" (also mailboxes[0])`}},
		{"mailbox subchannel", valid + "mailboxes:" + strings.Replace(mailbox, "subchannelId: 1", "subchannelId: 2", 1),
			[]string{`mailboxes[0].subchannelId: unknown subchannel 2 (configured: 1, 4)`}},
		{"mailbox port", valid + "mailboxes:" + mailbox + strings.NewReplacer("support", "sales", "bob", "alice").Replace(mailbox) + "    port: 70000\n",
			[]string{`mailboxes[1].port: must be 1-65535`}},
		{"mailbox security", valid + "mailboxes:" + mailbox + "    security: ssl\n",
			[]string{`mailboxes[0].security: must be one of tls, starttls, none (got "ssl")`}},
		{"mailbox passwordFile", valid + "mailboxes:" + mailbox + "    passwordFile: /run/secrets/pw\n",
			[]string{`mailboxes[0].passwordFile: cannot be used together with password`}},
		{"mailbox passwordFile alone", valid + "mailboxes:" + strings.Replace(mailbox, "password: pw", "passwordFile: /run/secrets/pw", 1), nil},
		{"mailbox pollInterval", valid + "mailboxes:" + mailbox + "    pollInterval: -1m\n",
			[]string{`mailboxes[0].pollInterval: must be positive (got -1m0s)`}},
		{"mailbox folders", valid + "mailboxes:" + mailbox + "    folders: [INBOX, '']\n",
			[]string{`mailboxes[0].folders[1]: must not be empty`}},
		{"mailbox no folders", valid + "mailboxes:" + mailbox + "    folders: []\n",
			[]string{`mailboxes[0].folders: at least one folder is required`}},
		{"mailbox same folder", valid + "mailboxes:" + mailbox + "    folders: [INBOX, Archive]\n" +
			strings.NewReplacer("support", "sales", "imap.", "IMAP.").Replace(mailbox) + "    folders: [Sales, INBOX]\n",
			[]string{`mailboxes[1].folders[1]: duplicate folder "INBOX" of bob on IMAP.example.com (also mailboxes[0].folders[0])`}},
		{"mailbox same folder other user", valid + "mailboxes:" + mailbox +
			strings.NewReplacer("support", "sales", "bob", "alice").Replace(mailbox), nil},

		// types
		{"not an integer", valid + "mailboxes:" + mailbox + "    port: abc\n",
			[]string{`mailboxes[0].port: must be an integer (got "abc")`}},
		{"not a mapping", valid + "log: verbose",
			[]string{`log: must be a mapping (got "verbose")`}},
		{"not a list", "subchannels: {id: 1}",
			[]string{`subchannels: must be a list (got a mapping)`}},
		{"not a string", valid + "log: {level: [debug]}",
			[]string{`log.level: must be a string (got a list)`}},
		{"not an integer pointer", valid + "mapper: {inlineImageMaxBytes: lots}",
			[]string{`mapper.inlineImageMaxBytes: must be an integer (got "lots")`}},
		{"not a map", valid + "api: {ticket: {static: email}}",
			[]string{`api.ticket.static: must be a mapping (got "email")`}},
		{"not a bool", valid + "api: {dryRun: maybe}",
			[]string{`api.dryRun: must be true or false (got "maybe")`}},
		{"document", "- id: 1",
			[]string{`must be a mapping (got a list)`}},
		{"merge key", valid + "x: &x {level: info}\nlog:\n  <<: *x\n",
			[]string{
				`x: unknown key (known: log, admin, store, api, delivery, mapper, mailSense, threading, subchannels, smtp, mailboxes, oauth2, auth, rules)`,
				`log.<<: YAML merge keys are not supported`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, tt.doc, tt.want)
		})
	}
}

func TestValidateStruct(t *testing.T) {
	c := mustParse(t, valid)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of a parsed config: %v", err)
	}
	c.Store.Path = ""
	c.API.Ticket.IDField = ""
	c.API.DryRunDir = ""
	err := c.Validate()
	want := "api.dryRunDir: required in dry run\napi.ticket.idField: required\nstore.path: required for the sqlite driver"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want\n%s", err, want)
	}
}

func TestUnknownKeys(t *testing.T) {
	doc := `log:
  levle: debug
api:
  ticket:
    feilds: [subject]
    static:
      anything: goes
subchannels:
  - id: 1
    nmae: Support
mailboxes:` + mailbox + `  - name: sales
    prot: 993
bogus: 1
API: {}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		`:2: log.levle: unknown key (did you mean "level"?)`,
		`:5: api.ticket.feilds: unknown key (did you mean "fields"?)`,
		`:10: subchannels[0].nmae: unknown key (did you mean "name"?)`,
		`:17: mailboxes[1].host: required`, // validation goes on
		`:18: mailboxes[1].prot: unknown key (did you mean "port"?)`,
		`:19: bogus: unknown key (known: log, admin, store, api, delivery, mapper, mailSense, threading, subchannels, smtp, mailboxes, oauth2, auth, rules)`,
		`:20: API: unknown key (did you mean "api"?)`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, path+w) {
			t.Errorf("error lacks %q:\n%s", path+w, got)
		}
	}
}

func TestAllErrorsSorted(t *testing.T) {
	doc := `log:
  level: loud
delivery:
  workers: 0
  lease: 1s
subchannels:
  - id: 3
  - id: 3
mailboxes:
  - name: a
    subchannelId: 3
    host: h
    port: 99999
    security: ssl
    username: u
    password: p
`
	_, err := Parse([]byte(doc))
	want := `line 2: log.level: must be one of debug, info, warn, error (got "loud")
line 5: delivery.lease: must be longer than api.timeout (1m0s): a lease that runs out while a request is still in flight lets a second worker post the same message
line 8: subchannels[1].id: duplicate subchannel 3 (also subchannels[0])
line 13: mailboxes[0].port: must be 1-65535
line 14: mailboxes[0].security: must be one of tls, starttls, none (got "ssl")`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("MB_TOKEN", "tok")
	t.Setenv("MB_PORT", "1993")
	t.Setenv("MB_EMPTY", "")
	t.Setenv("MB_YAML", "x\nbogus: [1]")
	t.Setenv("MB_UNSET", "")
	os.Unsetenv("MB_UNSET")

	c := mustParse(t, valid+`
# ${MB_UNSET} in a comment is not expanded
api:
  token: ${MB_TOKEN} # nor here: ${MB_UNSET}
  dryRunDir: ${MB_UNSET:-./out}/${MB_EMPTY:-x}/${MB_EMPTY}
  ticket:
    idField: ${MB_YAML}
    static:
      port: ${MB_PORT}
      quoted: "${MB_PORT}"
      escaped: pa$$word$$
      dollar: a$b $ ${MB_UNSET:-}$
mailboxes:`+mailbox+`    port: ${MB_PORT}
`)
	if got := c.API.Token.Value(); got != "tok" {
		t.Errorf("token = %q", got)
	}
	if got := c.API.DryRunDir; got != "./out/x/" {
		t.Errorf("dryRunDir = %q", got)
	}
	if got := c.API.Ticket.IDField; got != "x\nbogus: [1]" {
		t.Errorf("idField = %q, want the variable verbatim", got)
	}
	if got := c.Mailboxes[0].Port; got != 1993 {
		t.Errorf("port = %d", got)
	}
	wantStatic := map[string]any{"port": 1993, "quoted": "1993", "escaped": "pa$word$", "dollar": "a$b $ $"}
	if !reflect.DeepEqual(c.API.Ticket.Static, wantStatic) {
		t.Errorf("static = %#v, want %#v", c.API.Ticket.Static, wantStatic)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Setenv("MB_UNSET", "")
	os.Unsetenv("MB_UNSET")
	doc := valid + `api:
  token: ${MB_UNSET}
  dryRunDir: ${MB_UNSET
  ticket:
    path: ${1X}
    idField: ${A-B}
mailboxes:` + mailbox + `    port: ${MB_UNSET}
    folders: ["${MB_UNSET}"]
`
	_, err := Parse([]byte(doc))
	// The unexpanded keys are not reported again (port, host: required).
	want := `line 6: api.token: environment variable MB_UNSET is not set
line 7: api.dryRunDir: unterminated ${
line 9: api.ticket.path: invalid environment variable reference ${1X}
line 10: api.ticket.idField: invalid environment variable reference ${A-B}
line 17: mailboxes[0].port: environment variable MB_UNSET is not set
line 18: mailboxes[0].folders[0]: environment variable MB_UNSET is not set`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // *File names are relative to the working directory
	writeFile(t, "token", "s3cret\n")
	writeFile(t, "pw", "imap-pw\r\n")
	writeFile(t, "config.yaml", valid+`
api:
  baseURL: https://demo.enneo.ai/api/mind
  tokenFile: token
mailboxes:`+strings.Replace(mailbox, "password: pw", "passwordFile: pw", 1))

	c, err := Load("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Token.Value() != "s3cret" || c.API.TokenFile != "" {
		t.Errorf("api token %q, tokenFile %q", c.API.Token.Value(), c.API.TokenFile)
	}
	m := c.Mailboxes[0]
	if m.Password.Value() != "imap-pw" || m.PasswordFile != "" {
		t.Errorf("mailbox password %q, passwordFile %q", m.Password.Value(), m.PasswordFile)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}

	// Parse does not read files.
	data, _ := os.ReadFile("config.yaml")
	c = mustParse(t, string(data))
	if c.API.Token != "" || c.API.TokenFile != "token" {
		t.Errorf("Parse: api token %q, tokenFile %q", c.API.Token.Value(), c.API.TokenFile)
	}
}

func TestSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "empty", "\n")
	writeFile(t, "config.yaml", valid+`api:
  token: inline
  tokenFile: ignored-when-token-is-set
mailboxes:`+strings.Replace(mailbox, "password: pw", "passwordFile: missing", 1)+
		strings.NewReplacer("support", "sales", "bob", "alice", "password: pw", "passwordFile: empty").Replace(mailbox))

	_, err := Load("config.yaml")
	want := `config.yaml:13: mailboxes[0].passwordFile: open missing: no such file or directory
config.yaml:19: mailboxes[1].passwordFile: file empty is empty`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "log: [\n")
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+": yaml: line ") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, valid+`
mapper: {inlineImageMaxBytes: 0}
smtp:
  listeners: [{address: ':2525'}]
mailboxes:`+mailbox+strings.NewReplacer("support", "b", "bob", "b").Replace(mailbox)+"    security: starttls\n"+
		strings.NewReplacer("support", "c", "bob", "c").Replace(mailbox)+"    security: none\n    allowInsecure: true\n")

	zero, twenty := 0, 20
	on := true
	admin := DefaultAdminListen
	d := func(s string) Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return Duration(v)
	}
	mb := func(name, username string, port int, security string) Mailbox {
		return Mailbox{
			Name: name, SubchannelID: 1, Host: "imap.example.com", Port: port, Security: security,
			Username: username, Password: "pw", Folders: []string{"INBOX"}, PollInterval: d("60s"),
			IdleRestart: d("25m"), StartAt: "unseen", AfterProcess: "seen", BatchSize: 400, Timeout: d("60s"),
			MaxMessageBytes: 64 << 20,
			AllowInsecure:   security == "none",
		}
	}
	want := &Config{
		Log:   Log{Level: "info", Format: "text"},
		Admin: Admin{Listen: &admin},
		Store: Store{Driver: "sqlite", Path: "./data/mailbridge.db", KeepDelivered: d("168h")},
		API: API{
			Timeout:   d("60s"),
			DryRun:    true,
			DryRunDir: "./data/outbox",
			Ticket: TicketCreate{
				Path: "/ticket", IDField: "id", Process: "batch", TicketBody: "none",
				Fields: []string{"subchannelId", "from", "fromName", "to", "cc", "subject", "createdAt", "externalTicketId", "rawData"},
				Static: map[string]any{"channel": "email"},
			},
		},
		Delivery: Delivery{
			Workers: 16, MaxAttempts: 25, MaxAge: d("72h"),
			Backoff:   Backoff{Initial: d("5s"), Max: d("30m")},
			AuthRetry: d("5m"), Lease: d("5m"), Poll: d("1s"), InflightBytes: 32 << 20,
		},
		Mapper: Mapper{Timezone: "UTC", InlineImageMaxBytes: &zero, BodyMaxBytes: 1 << 20, Timeout: Duration(60 * time.Second)},
		MailSense: MailSense{
			Policies:       SensePolicies{AutoReply: "store", Bounce: "store", List: "post"},
			LoopBreaker:    LoopBreaker{Max: &twenty, Window: d("10m")},
			UrgentPriority: "high",
		},
		Threading: Threading{MessageIDs: &on, CheckSender: &on, Subject: SubjectTicket{Enabled: &on, Minimum: 1},
			Search: TicketSearch{Enabled: &on, Key: "externalTicketId", Comparator: "in"}},
		Subchannels: []Subchannel{
			{ID: 1, Process: "batch", Direction: "in", Unauthenticated: "tag"},
			{ID: 4, Process: "batch", Direction: "in", Unauthenticated: "tag"},
		},
		SMTP:      smtpDefaults(Listener{Name: ":2525", Address: ":2525", Mode: "smtp", TLS: ListenerTLS{Mode: "none"}}),
		Mailboxes: []Mailbox{mb("support", "bob", 993, "tls"), mb("b", "b", 143, "starttls"), mb("c", "c", 143, "none")},
		Auth:      Auth{DNSTimeout: d("5s"), CacheTTL: d("5m"), Timeout: d("15s"), MaxSignatures: 5},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, *want)
	}
	if !c.DryRun() {
		t.Error("DryRun() = false without api.baseURL")
	}

	c = mustParse(t, valid)
	if got := *c.Mapper.InlineImageMaxBytes; got != 262144 {
		t.Errorf("inlineImageMaxBytes = %d", got)
	}
	c = mustParse(t, valid+"api: {baseURL: 'https://x.enneo.ai', token: t}")
	if c.DryRun() || c.API.DryRun {
		t.Error("dry run with api.baseURL and token")
	}
}

func TestSecretRedacted(t *testing.T) {
	const token, password, dsn = "tok-SECRET-1", "pw-SECRET-2", "dsn-SECRET-3"
	t.Setenv("MB_TOKEN", token)
	c := mustParse(t, valid+`
store: {driver: postgres, dsn: 'host=db password=`+dsn+`'}
api:
  baseURL: https://x.enneo.ai
  token: ${MB_TOKEN}
mailboxes:`+strings.Replace(mailbox, "password: pw", "password: "+password, 1))
	if c.API.Token.Value() != token {
		t.Fatalf("token = %q", c.API.Token.Value())
	}

	var dumps []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		dumps = append(dumps, fmt.Sprintf(format, c), fmt.Sprintf(format, *c), fmt.Sprintf(format, c.API.Token))
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("loaded", "config", c, "token", c.API.Token, "mailbox", c.Mailboxes[0])
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dumps = append(dumps, logs.String(), string(y), string(j))
	for _, dump := range dumps {
		if regexp.MustCompile(`SECRET|534543524554`).MatchString(dump) { // also hex-encoded
			t.Errorf("secret leaked:\n%s", dump)
		}
	}
	if !strings.Contains(string(y), "token: '[redacted]'") {
		t.Errorf("yaml dump lacks the redacted token:\n%s", y)
	}
	if got := fmt.Sprintf("%#v|%8s|%v", c.API.Token, c.API.Token, Secret("")); got != `config.Secret("[redacted]")|[redacted]|` {
		t.Errorf("formatting = %q", got)
	}
}

// TestRoundTrip checks that a dumped config loads back as it was, which
// needs Duration.MarshalYAML.
func TestRoundTrip(t *testing.T) {
	c := mustParse(t, valid+"delivery: {lease: 90s}\nmailboxes:"+strings.Replace(mailbox, "password: pw", "passwordFile: pw", 1))
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "lease: 1m30s") {
		t.Errorf("dump lacks lease: 1m30s:\n%s", y)
	}
	y2, err := yaml.Marshal(mustParse(t, string(y)))
	if err != nil {
		t.Fatal(err)
	}
	if string(y) != string(y2) {
		t.Errorf("round trip changed the config:\n%s\n%s", y, y2)
	}
}

func TestRepositoryConfig(t *testing.T) {
	t.Setenv("ENNEO_TOKEN", "")
	os.Unsetenv("ENNEO_TOKEN")
	c, err := Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.DryRun() || c.API.DryRunDir != "./data/outbox" || c.Store.Path != "./data/mailbridge.db" {
		t.Errorf("dry run %v to %q, store %q", c.DryRun(), c.API.DryRunDir, c.Store.Path)
	}
	if want := []Subchannel{{ID: 1, Name: "Support", Process: "batch", Direction: "in", Unauthenticated: "tag"}}; !reflect.DeepEqual(c.Subchannels, want) {
		t.Errorf("subchannels = %+v", c.Subchannels)
	}
	// The file must show the defaults, and nothing but.
	if want := mustParse(t, "subchannels: [{id: 1, name: Support}]"); !reflect.DeepEqual(c, want) {
		t.Errorf("config.yaml differs from the defaults:\n%+v\n%+v", *c, *want)
	}

	// The commented-out sources must be valid once uncommented.
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	uncomment := regexp.MustCompile(`(?m)^# ((?:smtp|mailboxes|oauth2):|  )`)
	t.Setenv("IMAP_PASSWORD", "pw")
	t.Setenv("MAILBRIDGE_TOKEN_KEY", "k")
	c = mustParse(t, uncomment.ReplaceAllString(string(data), "$1"))
	if len(c.SMTP.Listeners) != 1 || len(c.SMTP.Routes) != 2 || len(c.Mailboxes) != 1 {
		t.Errorf("uncommented: %d listeners, %d routes, %d mailboxes", len(c.SMTP.Listeners), len(c.SMTP.Routes), len(c.Mailboxes))
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"port", "port", 0}, {"prot", "port", 1}, {"", "abc", 3},
		{"pasword", "password", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// expectProblems parses doc and wants exactly the problems want, in order;
// nil wants none.
func expectProblems(t *testing.T, doc string, want []string) {
	t.Helper()
	_, err := Parse([]byte(doc))
	if want == nil {
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Parse succeeded, want %q", want)
	}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
