// Package dkim verifies DKIM signatures (RFC 6376). It is the verifying
// half of github.com/emersion/go-msgauth/dkim v0.7.0, carried in this
// module with a body canonicalizer that works on whole runs of bytes and
// a cache for parsed public keys; README.md lists every change.
package dkim

import (
	"time"
)

var now = time.Now

const headerFieldName = "DKIM-Signature"
