package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every key of config.yaml is in docs/config.md, by its full path
// (mailboxes[].oauth2.tokenURL), so that a key added to the types cannot
// go undocumented.
func TestEveryKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	keyPaths(reflect.TypeFor[Config](), "", &keys)
	if len(keys) < 100 {
		t.Fatalf("found %d keys; the walk of the types is broken", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/config.md does not name `%s`", k)
		}
	}
}

// keyPaths appends the dotted path of every leaf key under type t: a
// field whose type is not a struct of yaml-tagged fields, or reads itself
// from YAML (Duration, Secret).
func keyPaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if isSection(f.Type) {
			keyPaths(f.Type, path, out)
		} else {
			*out = append(*out, path)
		}
	}
}

// isSection reports whether t (or what it points to or lists) is a struct
// of keys rather than one value.
func isSection(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	if _, ok := reflect.New(t).Interface().(yaml.Unmarshaler); ok {
		return false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") != "" {
			return true
		}
	}
	return false
}
