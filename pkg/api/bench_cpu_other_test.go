//go:build !unix

package api_test

import "time"

// processCPU is not measured here: the cpu-µs metrics read 0.
func processCPU() time.Duration { return 0 }
