//go:build !linux

package sqlite

import (
	"errors"
	"os"
)

// directFlag is zero where direct I/O is not used: spool files go through
// the page cache.
const directFlag = 0

func setDirect(*os.File, bool) error { return errors.ErrUnsupported }
