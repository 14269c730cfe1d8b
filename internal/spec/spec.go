// Package spec gives tests the enneo API contract: shared/spec/openapi.yaml,
// found beside the repository, and validation of request bodies against it.
package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// StorePath is the store-conversation operation's path in the spec.
const StorePath = "/ticket/{ticketId}/conversation/store"

// Env names the environment variable that says where openapi.yaml is.
const Env = "MAILBRIDGE_SPEC"

const rel = "shared/spec/openapi.yaml"

// Path finds openapi.yaml: $MAILBRIDGE_SPEC, else shared/spec/openapi.yaml
// in the working directory or a parent (the repository is checked out
// beside shared/), else the same search from this source file's directory,
// which still works for a test binary run from elsewhere.
func Path() (string, error) {
	if p := os.Getenv(Env); p != "" {
		return p, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, rel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("spec: %s not found above %v (set $%s)", rel, starts, Env)
}

var load = sync.OnceValues(func() (*openapi3.T, error) {
	p, err := Path()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromFile(p)
	if err != nil {
		return nil, fmt.Errorf("spec: load %s: %w", p, err)
	}
	// The spec's own Attachment example has a typo ("103013960646,"), so
	// examples are not checked: only the schemas matter here.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("spec: %s is not a valid OpenAPI document: %w", p, err)
	}
	return doc, nil
})

// Load returns the parsed, validated spec (loaded once per process).
func Load() (*openapi3.T, error) { return load() }

// ValidateStoreRequest checks body against the request schema of
// POST /ticket/{ticketId}/conversation/store.
func ValidateStoreRequest(body []byte) error {
	doc, err := Load()
	if err != nil {
		return err
	}
	item := doc.Paths.Find(StorePath)
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		return fmt.Errorf("spec: no POST %s with a request body", StorePath)
	}
	schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("spec: body is not JSON: %w", err)
	}
	return schema.VisitJSON(v, openapi3.MultiErrors())
}
