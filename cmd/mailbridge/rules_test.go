package main

import (
	"strings"
	"testing"

	"github.com/enneo/mailbridge/config"
)

// parse --explain names the rules that fire and why.
func TestParseExplainsRules(t *testing.T) {
	cfg := writeConfig(t, `rules:
  - name: orders
    match: {subject: '(?i)bestellung', from: '@'}
    then: {priority: high, tags: [order]}
  - name: never
    match: {header: {X-Spam-Flag: '(?i)yes'}}
    then: {drop: true}`)
	code, _, stderr := run(t, "parse", "-c", cfg, "--explain", sample)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, `rule fired: orders (from "juergen.mueller@example.com" matches @; subject "Rückfrage zur Bestellung für Müller & Söhne" matches (?i)bestellung)`) ||
		!strings.Contains(stderr, "): priority high, tags order") || strings.Contains(stderr, "never") {
		t.Errorf("--explain:\n%s", stderr)
	}
}

// A reload applies rules: they are not among the keys that need a restart.
func TestRulesReloadable(t *testing.T) {
	old := &config.Config{}
	cfg := &config.Config{Rules: []config.Rule{{Name: "x", Match: config.RuleMatch{From: "a"}, Then: config.RuleAction{Drop: true}}}}
	if keys := restartOnly(old, cfg); len(keys) != 0 {
		t.Errorf("restartOnly = %v, want rules applied by the reload", keys)
	}
}
