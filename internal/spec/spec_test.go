package spec

import (
	"os"
	"path/filepath"
	"testing"
)

func TestValidateStoreRequest(t *testing.T) {
	if err := ValidateStoreRequest([]byte(`{"from":"a@example.com","to":["b@example.com"],"direction":"in","attachments":[{"name":"a","base64":"AA=="}]}`)); err != nil {
		t.Errorf("valid body rejected: %v", err)
	}
	for _, bad := range []string{
		`{"direction":"sideways"}`,
		`{"to":"not-an-array"}`,
		`{"subchannelId":"4"}`,
		`{"process":"later"}`,
		`not json`,
	} {
		if err := ValidateStoreRequest([]byte(bad)); err == nil {
			t.Errorf("invalid body %s accepted", bad)
		}
	}
}

// The embedded contract is the default; $MAILBRIDGE_SPEC replaces it.
func TestData(t *testing.T) {
	t.Setenv(Env, "")
	data, source, err := Data()
	if err != nil || len(data) == 0 || source != "internal/spec/openapi.yaml" {
		t.Fatalf("Data() = %d bytes from %q, %v; want the embedded copy", len(data), source, err)
	}
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("openapi: 3.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(Env, other)
	if data, source, err := Data(); err != nil || string(data) != "openapi: 3.0.0\n" || source != other {
		t.Errorf("with $%s: %q from %q, %v", Env, data, source, err)
	}
	t.Setenv(Env, filepath.Join(t.TempDir(), "missing.yaml"))
	if _, _, err := Data(); err == nil {
		t.Errorf("a missing $%s accepted", Env)
	}
}
