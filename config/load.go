package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	Path string // key path such as mailboxes[1].port; empty for the document
	Line int    // 1-based line in the YAML source; 0 when unknown
	Msg  string
}

func (e FieldError) Error() string { return e.format("") }

// format renders "file:line: path: msg", leaving out what is unknown.
func (e FieldError) format(file string) string {
	var b strings.Builder
	switch {
	case file != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", file, e.Line)
	case file != "":
		b.WriteString(file + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError lists every problem found in a configuration, so that
// one run of mailbridge reports all of them rather than one per attempt.
type ValidationError struct {
	File   string       // as given to Load; empty for Parse and Validate
	Errors []FieldError // sorted by line, then path
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.format(e.File)
	}
	return strings.Join(lines, "\n")
}

func newValidationError(file string, errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Path, b.Path))
	})
	return &ValidationError{File: file, Errors: errs}
}

// Load reads the configuration file at path, then does what Parse does
// and reads api.tokenFile and mailboxes[].passwordFile into api.token and
// mailboxes[].password. Relative file names are taken relative to the
// working directory, not to the configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, true)
}

// Parse decodes a configuration from YAML: it expands ${VAR} references,
// rejects unknown keys, applies the defaults and validates the result.
// Unlike Load it does not touch the file system, so *File keys stay
// unread. Problems are returned together as a *ValidationError.
func Parse(data []byte) (*Config, error) {
	return parse("", data, false)
}

func parse(file string, data []byte, readSecrets bool) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if file != "" {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, err
	}
	d := decoder{lines: map[string]int{}, failed: map[string]bool{}}
	c := new(Config)
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		d.expand(root, "")
		d.value(root, reflect.ValueOf(c).Elem(), "")
	}
	// The problems found from here on are about values, not nodes, and
	// are located by their path.
	var errs []FieldError
	if readSecrets {
		errs = c.readSecrets()
	}
	c.applyDefaults()
	errs = append(errs, c.validate()...)
	for _, e := range errs {
		// A key that did not decode has its zero value, which validation
		// would complain about a second time.
		if !d.hasFailed(e.Path) {
			e.Line = d.line(e.Path)
			d.errs = append(d.errs, e)
		}
	}
	if err := newValidationError(file, d.errs); err != nil {
		return nil, err
	}
	return c, nil
}

// readSecrets moves the content of each *File into the secret it stands
// for and clears the file name, so that the loaded config still passes
// Validate's rule that a password comes from one place only.
func (c *Config) readSecrets() []FieldError {
	var errs []FieldError
	read := func(path, name string, dst *Secret) bool {
		b, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, FieldError{Path: path, Msg: err.Error()})
			return false
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf("file %s is empty", name)})
			return false
		}
		*dst = Secret(s)
		return true
	}
	if a := &c.API; a.TokenFile != "" && a.Token == "" {
		if read("api.tokenFile", a.TokenFile, &a.Token) {
			a.TokenFile = ""
		}
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if m.PasswordFile != "" && m.Password == "" {
			if read(fmt.Sprintf("mailboxes[%d].passwordFile", i), m.PasswordFile, &m.Password) {
				m.PasswordFile = ""
			}
		}
	}
	for i := range c.SMTP.Users {
		u := &c.SMTP.Users[i]
		if u.PasswordFile != "" && u.Password == "" {
			if read(fmt.Sprintf("smtp.users[%d].passwordFile", i), u.PasswordFile, &u.Password) {
				u.PasswordFile = ""
			}
		}
	}
	return errs
}

// decoder walks a yaml.Node tree alongside the Config it fills. Doing the
// walk ourselves rather than calling yaml.Node.Decode on the root is what
// lets every error carry its key path.
type decoder struct {
	errs   []FieldError
	lines  map[string]int  // key path → line, for locating validation errors
	failed map[string]bool // key paths that did not expand or decode
}

// fail records that the key at path, found at node n, did not decode.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.errs = append(d.errs, FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of path or, for a key that is not in the source
// (a default, say), of its closest ancestor that is.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		path = parent(path)
	}
	return 0
}

// hasFailed reports whether path or one of its ancestors, up to the
// document itself (""), did not decode.
func (d *decoder) hasFailed(path string) bool {
	for !d.failed[path] {
		if path == "" {
			return false
		}
		path = parent(path)
	}
	return true
}

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// expand replaces ${VAR} references in every scalar value under n. It runs
// on the parsed tree rather than on the text so that comments are left
// alone and a variable's value can never turn into YAML structure.
func (d *decoder) expand(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expand(n.Content[i+1], child(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.expand(item, index(path, i))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandEnv(n.Value)
		if err != nil {
			d.fail(n, path, "%v", err)
			// Decode the key as absent rather than as the unexpanded text.
			n.Tag, n.Value, n.Style = "!!null", "", 0
			return
		}
		n.Value = v
		if n.Style == 0 {
			// A plain scalar's tag was resolved from the unexpanded text
			// (always !!str); resolve it again so that port: ${PORT} is
			// an int. Quoting the value keeps it a string.
			n.Tag = ""
		}
	}
}

// expandEnv replaces ${VAR} and ${VAR:-default} with the environment
// variable, or the default when VAR is unset or empty; $$ is a literal $.
// Any other $ is kept as is, so that passwords rarely need escaping.
func expandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		if s[i+1] != '{' {
			b.WriteByte('$')
			if s[i+1] == '$' {
				i++
			}
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${") // no quote: it may be a password
		}
		v, err := lookupEnv(s[i+2 : i+end])
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

// lookupEnv resolves the inside of ${...}.
func lookupEnv(ref string) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validEnvName(name) {
		return "", fmt.Errorf("invalid environment variable reference ${%s}", ref)
	}
	v, ok := os.LookupEnv(name)
	switch {
	case hasDef && v == "":
		return def, nil
	case !ok:
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty key means "use the default"
	}
	switch {
	case reflect.PointerTo(v.Type()).Implements(unmarshalerType):
		d.leaf(n, v, path)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.leaf(n, v, path)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping (got %s)", describeNode(n))
		return
	}
	names, fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := child(path, key.Value)
		f, ok := fields[key.Value]
		switch {
		case key.Kind != yaml.ScalarNode:
			d.fail(key, path, "keys must be strings (got %s)", describeNode(key))
		case key.Value == "<<" && key.ShortTag() == "!!merge":
			d.fail(key, p, "YAML merge keys are not supported")
		case !ok:
			d.fail(key, p, "unknown key %s", hint(key.Value, names))
		default:
			d.lines[p] = key.Line
			d.value(val, v.Field(f), p)
		}
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list (got %s)", describeNode(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := index(path, i)
		d.lines[p] = item.Line
		d.value(item, s.Index(i), p)
	}
	v.Set(s)
}

func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	err := n.Decode(v.Addr().Interface())
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		d.fail(n, path, "must be %s (got %s)", describeType(v.Type()), describeNode(n))
	case err != nil:
		d.fail(n, path, "%v", err)
	}
}

// yamlFields returns the YAML keys of struct type t, in declaration order
// and as a map to the field index.
func yamlFields(t reflect.Type) ([]string, map[string]int) {
	var names []string
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		names = append(names, name)
		fields[name] = i
	}
	return names, fields
}

// hint completes "unknown key" with the likely intended key or, failing
// that, the list of valid ones.
func hint(key string, known []string) string {
	best, bestDist := "", len(key)/3+1
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), strings.ToLower(k)); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("(did you mean %q?)", best)
	}
	return "(known: " + strings.Join(known, ", ") + ")"
}

// editDistance is the optimal string alignment distance: Levenshtein plus
// transposition of adjacent characters, the most common typo (prot/port).
func editDistance(a, b string) int {
	// rows i-2, i-1 and i of the dynamic programming table.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}
