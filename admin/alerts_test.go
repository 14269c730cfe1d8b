package admin

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// alertsFile holds the Prometheus alerting rules (docs/operations.md,
// Alerts).
const alertsFile = "../deploy/prometheus/alerts.yaml"

// ruleFile is the part of a Prometheus rule file the test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules loads the rules and checks each expression against the
// metrics mailbridge exports: a series of the registry of a running
// instance, or, for metrics that only have series once something happens
// to a mailbox (OAuth2 tokens), one defined in the module's code. A name
// exported nowhere (a typo, a renamed or removed metric) fails.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	registered := registeredSeries(t)
	defined := definedMetricNames(t)
	names := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: no name or no rules", g.Name)
		}
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Record != "" || names[r.Alert] {
				t.Errorf("rule %q (record %q): each rule is an alert with a name of its own", r.Alert, r.Record)
			}
			names[r.Alert] = true
			if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: a summary and a description are needed", r.Alert)
			}
			sels, err := selectors(r.Expr)
			if err != nil {
				t.Errorf("%s: %v in %s", r.Alert, err, r.Expr)
				continue
			}
			if len(sels) == 0 {
				t.Errorf("%s selects no metric: %s", r.Alert, r.Expr)
			}
			for _, s := range sels {
				if _, ok := registered[s.name]; !ok && !defined[s.name] {
					t.Errorf("%s: %s is a metric mailbridge exports nowhere", r.Alert, s.name)
				}
			}
		}
	}
	for _, want := range []string{"MailbridgeMailboxStale", "MailbridgeOAuth2RefreshFailing", "MailbridgeDeadLettersRising", "MailbridgeQueueStuck"} {
		if !names[want] {
			t.Errorf("no alert %s", want)
		}
	}
	t.Logf("%d alert rules checked", n)
	// The access token is asked for only when a connection logs in, and a
	// healthy session outlives it: its expiry is no sign of trouble.
	if bytes.Contains(b, []byte("mailbridge_oauth2_token_expiry_timestamp_seconds")) {
		t.Errorf("an alert relies on the expiry of the access token in use, which passes on every healthy long-lived session")
	}
}

// definedMetricNames finds the metric names the module's code defines as
// string literals: "mailbridge_x", or "x" where the namespace "mailbridge"
// is set apart. Only names of the form mailbridge_… are returned.
func definedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(src, []byte(`"mailbridge`)) {
			return nil
		}
		parts := bytes.Split(src, []byte(`"`))
		for i := 1; i < len(parts); i += 2 { // inside quotes (near enough)
			word := string(parts[i])
			if word == "" || strings.ContainsFunc(word, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
			}) {
				continue
			}
			if !strings.HasPrefix(word, "mailbridge_") {
				word = "mailbridge_" + word
			}
			names[word] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
