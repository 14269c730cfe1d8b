package testapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/enneo/mailbridge/internal/spec"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// SpecEnv names the environment variable that names another contract than
// the embedded one (see package spec).
const SpecEnv = spec.Env

// specData returns the contract: the file at explicit, else as spec.Data.
func specData(explicit string) ([]byte, string, error) {
	if explicit == "" {
		return spec.Data()
	}
	b, err := os.ReadFile(explicit)
	if err != nil {
		return nil, explicit, fmt.Errorf("testapi: spec: %w", err)
	}
	return b, explicit, nil
}

// validator checks requests against the operations of the spec.
type validator struct {
	basePath string
	router   routers.Router
	opts     *openapi3filter.Options
}

func loadValidator(data []byte, source string) (*validator, error) {
	doc, err := spec.Parse(data, source)
	if err != nil {
		return nil, fmt.Errorf("testapi: %w", err)
	}
	if len(doc.Servers) == 0 {
		return nil, errors.New("testapi: spec has no servers to take the base path from")
	}
	base, err := doc.Servers[0].BasePath()
	if err != nil {
		return nil, fmt.Errorf("testapi: spec server URL: %w", err)
	}
	// The spec's servers are absolute URLs of real instances, which the
	// router would match scheme and host against; keep only their path so
	// that requests to this fake's host match.
	doc.Servers = openapi3.Servers{{URL: base}}
	// The upstream spec carries examples that contradict their own schemas
	// (e.g. Attachment.id "103013960646,"); they say nothing about requests.
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		return nil, fmt.Errorf("testapi: spec: %w", err)
	}
	opts := &openapi3filter.Options{
		// Authentication is the fake's own business (Options.Token); the
		// spec's schemes would only ask for a cookie or a bearer.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Record what the client sent, not what defaults make of it.
		SkipSettingDefaults: true,
		MultiError:          true,
	}
	opts.WithCustomSchemaErrorFunc(shortSchemaError)
	return &validator{basePath: base, router: router, opts: opts}, nil
}

// shortSchemaError keeps a violation to one line naming the field and the
// value, where the default message dumps the whole schema.
func shortSchemaError(err *openapi3.SchemaError) string {
	if err.Reason == "" {
		return "" // nested errors (Origin) keep their own message
	}
	v, _ := json.Marshal(err.Value)
	if len(v) > 80 {
		v = append(v[:77], "..."...)
	}
	return fmt.Sprintf("/%s: %s (got %s)", strings.Join(err.JSONPointer(), "/"), err.Reason, v)
}

// validate checks r, whose body has been read into body, against the
// operation the spec declares for it.
func (v *validator) validate(ctx context.Context, r *http.Request, body []byte) error {
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		return err
	}
	// r's body has been read; the validator reads it again from a copy of r.
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    v.opts,
	})
}
