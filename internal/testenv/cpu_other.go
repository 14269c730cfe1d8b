//go:build !unix

package testenv

import "time"

// ProcessCPU is 0 where getrusage is missing: the benchmarks then report
// no CPU time.
func ProcessCPU() time.Duration { return 0 }
