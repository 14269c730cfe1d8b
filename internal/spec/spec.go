// Package spec gives tests the enneo API contract: shared/spec/openapi.yaml,
// found beside the repository, and validation of request bodies against it.
package spec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// StorePath is the store-conversation operation's path in the spec.
const StorePath = "/ticket/{ticketId}/conversation/store"

// Path finds openapi.yaml: $MAILBRIDGE_SPEC, else shared/spec/openapi.yaml
// in the working directory or any parent (the repository is checked out
// beside shared/).
func Path() (string, error) {
	if p := os.Getenv("MAILBRIDGE_SPEC"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "spec", "openapi.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("spec: shared/spec/openapi.yaml not found above the working directory (set MAILBRIDGE_SPEC)")
		}
		dir = parent
	}
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
