//go:build !unix

package storetest

import "time"

// processCPU is 0 where getrusage is missing: the benchmarks then report
// no CPU time.
func processCPU() time.Duration { return 0 }
