//go:build !windows

package app

import "syscall"

// The errors a listen on a taken or forbidden port fails with.
var (
	errAddrInUse    error = syscall.EADDRINUSE
	errPortReserved error = syscall.EACCES
)
