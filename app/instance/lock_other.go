//go:build !unix && !windows

package instance

import "os"

// lockFile always succeeds where the OS offers no lock we use: every
// launch is then a primary.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
