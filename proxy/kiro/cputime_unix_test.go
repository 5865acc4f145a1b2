//go:build unix

package kiro

import (
	"syscall"
	"time"
)

// processCPU is the CPU time of the whole process (all threads, GC
// included), for benchmarks that report CPU per operation.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
