package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/pipeline"
)

// dashboardFile is the Grafana dashboard of these metrics
// (docs/operations.md, Grafana dashboard).
const dashboardFile = "../deploy/grafana/mailbridge.json"

// instanceMatcher is what every selector of the dashboard carries, so that
// the instance variable picks one instance, several or all.
const instanceMatcher = `instance=~"$instance"`

// prometheusSeries are series Prometheus makes itself when it scrapes, not
// the admin package: the dashboard may use them too.
var prometheusSeries = map[string]bool{"up": true}

// grafanaDashboard is the part of the dashboard's JSON the test reads.
type grafanaDashboard struct {
	Inputs        []dashboardInput `json:"__inputs"`
	Title         string           `json:"title"`
	UID           string           `json:"uid"`
	SchemaVersion int              `json:"schemaVersion"`
	Templating    struct {
		List []templateVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboardInput is what Grafana asks for when the dashboard is imported.
type dashboardInput struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type templateVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": …} for Prometheus
	Datasource *datasourceRef  `json:"datasource"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
	Multi      bool `json:"multi"`
	IncludeAll bool `json:"includeAll"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// promDatasource is the datasource of every panel, query and query
// variable: the dashboard's datasource variable.
var promDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

// loadDashboard reads and decodes the dashboard.
func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestDashboardStructure checks what Grafana 10+ needs to import the
// dashboard and what makes it work on any Prometheus: the datasource input
// and variable, the instance variable, and panels that use them.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed", d.Title, d.UID)
	}
	if d.SchemaVersion < 38 { // Grafana 10.0 writes 38
		t.Errorf("schemaVersion = %d, want at least 38 (Grafana 10)", d.SchemaVersion)
	}
	if !slices.Contains(d.Inputs, dashboardInput{Name: "DS_PROMETHEUS", Type: "datasource", PluginID: "prometheus"}) {
		t.Errorf("__inputs lacks the DS_PROMETHEUS prometheus datasource: %+v", d.Inputs)
	}

	vars := map[string]templateVariable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("no datasource variable of Prometheus datasources: %+v", ds)
	} else if ds.Current.Value != "${DS_PROMETHEUS}" {
		t.Errorf("the datasource variable defaults to %v, want the imported ${DS_PROMETHEUS}", ds.Current.Value)
	}
	if in, ok := vars["instance"]; !ok || in.Type != "query" || !in.Multi || !in.IncludeAll {
		t.Errorf("no instance variable of type query with multi and all: %+v", in)
	} else {
		if in.Datasource == nil || *in.Datasource != promDatasource {
			t.Errorf("the instance variable's datasource is %+v, want %+v", in.Datasource, promDatasource)
		}
		if q := variableQuery(t, in); !regexp.MustCompile(`^label_values\(\w+, instance\)$`).MatchString(q) {
			t.Errorf("the instance variable's query is %q, want label_values(<metric>, instance)", q)
		}
	}

	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]string{}
	for _, p := range panels {
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or also %q's", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" || p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: no title, or no place on the 24-column grid: %+v", p.ID, p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != promDatasource {
			t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, promDatasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: a query without expr, without refId or with a refId used twice: %q %q", p.Title, q.RefID, q.Expr)
			}
			refs[q.RefID] = true
			if q.Datasource == nil || *q.Datasource != promDatasource {
				t.Errorf("panel %q, query %s: datasource %+v, want %+v", p.Title, q.RefID, q.Datasource, promDatasource)
			}
		}
	}
}

// TestDashboardUsesRegisteredMetrics fails when a query of the dashboard
// names a series the admin package does not register: a metric renamed or
// removed in metrics.go or collector.go, or a typo in the dashboard.
func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	registered := registeredSeries(t)
	d := loadDashboard(t)

	type query struct {
		where, expr string
		panel       bool // its selectors filter by instance
	}
	var queries []query
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			queries = append(queries, query{fmt.Sprintf("panel %q, query %s", p.Title, q.RefID), q.Expr, true})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := variableQuery(t, v)
		m := regexp.MustCompile(`^label_values\((.+), *\w+\)$`).FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, q)
			continue
		}
		queries = append(queries, query{"variable " + v.Name, m[1], false})
	}

	used := map[string]bool{}
	for _, q := range queries {
		sels, err := selectors(q.expr)
		if err != nil {
			t.Errorf("%s: %v in %s", q.where, err, q.expr)
			continue
		}
		if len(sels) == 0 {
			t.Errorf("%s selects no metric: %s", q.where, q.expr)
		}
		for _, s := range sels {
			used[s.name] = true
			if _, ok := registered[s.name]; !ok && !prometheusSeries[s.name] {
				t.Errorf("%s: %s is not a series the admin package registers (metrics.go, collector.go); "+
					"if it is new, have registeredSeries observe it", q.where, s.name)
			}
			if q.panel && !strings.Contains(s.matchers, instanceMatcher) {
				t.Errorf("%s: %s{%s} lacks %s", q.where, s.name, s.matchers, instanceMatcher)
			}
		}
	}

	// Every mailbridge metric has a panel.
	var unused []string
	for series, family := range registered {
		if strings.HasPrefix(family, "mailbridge_") && series == family && !used[series] &&
			!used[series+"_bucket"] && !used[series+"_count"] && !used[series+"_sum"] {
			unused = append(unused, series)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("no panel of %s shows %s", dashboardFile, strings.Join(unused, ", "))
	}
}

// registeredSeries gathers the registry of a running instance (start),
// with each of its metrics observed once so that every vector has a child
// to gather, and returns the names of the series Prometheus would scrape
// (a histogram's _bucket, _sum and _count too) with the family of each.
func registeredSeries(t *testing.T) map[string]string {
	t.Helper()
	m := start(t).server.opts.Metrics
	m.Ingested("smtp", 4, false)
	m.Ingested("imap", 4, true)
	m.IngestFailed("cli")
	m.Delivered(4)
	m.Retried(4)
	m.DeadLettered(4, pipeline.DeadRejected)
	m.Classified(autoreply.Human, pipeline.PolicyPost)
	m.Rejected("mta", smtp.ReasonNoRoute)
	m.ObserveAPI("store conversation", 201, time.Millisecond, nil)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]string{}
	for _, f := range families {
		name := f.GetName()
		series[name] = name
		switch f.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			series[name+"_bucket"] = name
			series[name+"_sum"] = name
			series[name+"_count"] = name
		case "SUMMARY":
			series[name+"_sum"] = name
			series[name+"_count"] = name
		}
	}
	for _, want := range []string{"mailbridge_queue_messages", "mailbridge_imap_connected",
		"mailbridge_smtp_listening", "mailbridge_api_request_duration_seconds_bucket"} {
		if _, ok := series[want]; !ok {
			t.Fatalf("the registry has no %s: the gathering above misses part of it", want)
		}
	}
	return series
}

// allPanels returns the panels, with those of collapsed rows.
func allPanels(panels []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range panels {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// variableQuery is a query variable's query, written as a string or, by
// Grafana 10's Prometheus editor, as {"query": "…"}.
func variableQuery(t *testing.T, v templateVariable) string {
	t.Helper()
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
	}
	return q.Query
}

// selector is one vector selector of a PromQL expression: the metric name
// and what stands between its braces.
type selector struct{ name, matchers string }

var (
	// promqlGrouping are followed by a list of labels, not of metrics.
	promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true}
	// promqlWords are keywords and aggregation operators: never a metric
	// where they stand (an aggregation may be followed by "by", not "(").
	promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"atan2": true, "inf": true, "nan": true, "sum": true, "min": true, "max": true, "avg": true,
		"group": true, "stddev": true, "stdvar": true, "count": true, "count_values": true, "bottomk": true,
		"topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
)

// selectors returns the vector selectors of a PromQL expression as Grafana
// holds it (with $variables in matchers and ranges). It is a lexer, not a
// parser: it skips strings, ranges, numbers, durations, grouping label
// lists, keywords and function names; what identifier remains is a metric.
// A selector without a metric name ({__name__=…}) is an error: the test
// could not check it.
func selectors(expr string) ([]selector, error) {
	var out []selector
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	// closing returns the index of the first close outside strings from i.
	closing := func(i int, close byte) (int, error) {
		for i < len(expr) {
			switch c := expr[i]; {
			case c == close:
				return i, nil
			case c == '"' || c == '\'' || c == '`':
				end, err := stringEnd(expr, i)
				if err != nil {
					return 0, err
				}
				i = end
			default:
				i++
			}
		}
		return 0, fmt.Errorf("no closing %c", close)
	}
	for i := 0; i < len(expr); {
		switch c := expr[i]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := stringEnd(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			return nil, errors.New("a selector without a metric name")
		case c == '[':
			end, err := closing(i, ']')
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '$': // a Grafana variable standing for a number or duration
			i++
			if i < len(expr) && expr[i] == '{' {
				end, err := closing(i, '}')
				if err != nil {
					return nil, err
				}
				i = end + 1
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case isDigit(c) || c == '.' && i+1 < len(expr) && isDigit(expr[i+1]): // 0.99, 1e3, 5m
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word, next := expr[start:i], skipSpace(i)
			switch {
			case promqlGrouping[word]:
				if next < len(expr) && expr[next] == '(' {
					end, err := closing(next, ')')
					if err != nil {
						return nil, err
					}
					i = end + 1
				}
			case promqlWords[word], next < len(expr) && expr[next] == '(': // a function
			default:
				s := selector{name: word}
				if next < len(expr) && expr[next] == '{' {
					end, err := closing(next, '}')
					if err != nil {
						return nil, err
					}
					s.matchers, i = expr[next+1:end], end+1
				}
				out = append(out, s)
			}
		default: // operators, parentheses, commas, space
			i++
		}
	}
	return out, nil
}

// stringEnd returns the index after the string literal that starts at i.
func stringEnd(expr string, i int) (int, error) {
	quote := expr[i]
	for j := i + 1; j < len(expr); j++ {
		switch expr[j] {
		case '\\':
			if quote != '`' {
				j++
			}
		case quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d", i)
}

func TestSelectors(t *testing.T) {
	for expr, want := range map[string][]selector{
		`sum by (source, subchannel) (rate(a_total{instance=~"$instance"}[$__rate_interval]))`: {
			{"a_total", `instance=~"$instance"`}},
		`histogram_quantile(0.99, sum by (le) (rate(b_bucket{op="}{ by (x)", q='\''}[5m])))`: {
			{"b_bucket", `op="}{ by (x)", q='\''`}},
		`c / on (instance) group_left (version) d offset 1h > bool 0.5e3`: {{"c", ""}, {"d", ""}},
		`(time() - e{i="1"}) and (e{i="1"} > 0)`:                          {{"e", `i="1"`}, {"e", `i="1"`}},
		`sum(rate(f[5m])) without (g) or max by (h) (i) * 0`:              {{"f", ""}, {"i", ""}},
		`label_replace(j, "dst", "$1", "src", "(.*)")`:                    {{"j", ""}},
		"topk(3, k:rule) unless l {a=`}`} / ${__range_s}":                 {{"k:rule", ""}, {"l", "a=`}`"}},
	} {
		got, err := selectors(expr)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("selectors(%s) = %q, %v; want %q", expr, got, err, want)
		}
	}
	for _, expr := range []string{`{__name__="a"}`, `a{b="c}`, `rate(a[5m`} {
		if got, err := selectors(expr); err == nil {
			t.Errorf("selectors(%s) = %q, want an error", expr, got)
		}
	}
}
