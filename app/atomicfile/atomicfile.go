// Package atomicfile replaces files so that, at every moment, even across a
// crash or a power loss, they hold either their old or their new complete
// content: a temporary file in the same folder, fsync, rename over the
// file, fsync of the folder. kirotray writes every file it owns this way.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Write replaces path with data, mode perm. On failure the temporary file
// is removed and path is untouched.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteStepped(path, data, perm, nil)
}

// WriteStepped is Write that calls step, when not nil, after the temporary
// file is created ("created") and once it is complete and synced
// ("synced"), so crash tests can stop the process at those points.
func WriteStepped(path string, data []byte, perm fs.FileMode, step func(string)) (err error) {
	if step == nil {
		step = func(string) {}
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, TempPrefix(base)+"*") // created 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	step("created")
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// Windows keeps only the read-only bit: nothing to set there.
	if perm != 0o600 && runtime.GOOS != "windows" {
		if err = f.Chmod(perm); err != nil {
			return err
		}
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	step("synced")
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// TempPrefix starts the names of Write's temporary files for base, so that
// a later load can find what an interrupted write left behind.
func TempPrefix(base string) string { return "." + base + ".tmp-" }

// SyncDir makes a rename in dir durable. Windows cannot open a folder for
// syncing; its rename is durable enough (MoveFileEx).
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
