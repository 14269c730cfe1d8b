package spec

import "testing"

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
