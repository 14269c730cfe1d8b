// Package spec gives tests the enneo API contract, openapi.yaml, and
// validation of request bodies against it.
//
// The contract is a copy of shared/spec/openapi.yaml kept in this package
// and embedded, so that a clone of the repository alone runs the tests;
// .ci/run fails when the copy differs from ../shared/spec/openapi.yaml
// where that exists. $MAILBRIDGE_SPEC names another file to test against.
package spec

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// StorePath is the store-conversation operation's path in the spec.
const StorePath = "/ticket/{ticketId}/conversation/store"

// Env names the environment variable that says where another openapi.yaml
// is, to test against instead of the embedded one.
const Env = "MAILBRIDGE_SPEC"

//go:embed openapi.yaml
var embedded []byte

// Data returns the contract's bytes and where they came from: the file
// $MAILBRIDGE_SPEC names, else the copy embedded in this package.
func Data() (data []byte, source string, err error) {
	if p := os.Getenv(Env); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, p, fmt.Errorf("spec: $%s: %w", Env, err)
		}
		return b, p, nil
	}
	return embedded, "internal/spec/openapi.yaml", nil
}

// Parse loads an OpenAPI document from data without validating it. Each
// call returns a document of its own, which the caller may change.
func Parse(data []byte, source string) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("spec: load %s: %w", source, err)
	}
	return doc, nil
}

var load = sync.OnceValues(func() (*openapi3.T, error) {
	data, source, err := Data()
	if err != nil {
		return nil, err
	}
	doc, err := Parse(data, source)
	if err != nil {
		return nil, err
	}
	// The spec's own Attachment example has a typo ("103013960646,"), so
	// examples are not checked: only the schemas matter here.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("spec: %s is not a valid OpenAPI document: %w", source, err)
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
