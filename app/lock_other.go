//go:build !unix && !windows

package app

import "os"

// lockFile is a no-op where the OS offers no advisory lock we use: one
// kirotray process at a time is then the user's business.
func lockFile(*os.File, bool) error { return nil }

func unlockFile(*os.File) error { return nil }
