package app

import "syscall"

// The errors a listen on a taken or forbidden port fails with: Winsock's
// own numbers (syscall.EADDRINUSE is a made-up value there that a listen
// never returns).
var (
	errAddrInUse    error = syscall.Errno(10048) // WSAEADDRINUSE
	errPortReserved error = syscall.Errno(10013) // WSAEACCES: a port Windows keeps (Hyper-V ranges)
)
