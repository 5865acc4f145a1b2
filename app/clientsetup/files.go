package clientsetup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// fileState is a file as read: its content and mode, or that it is absent.
type fileState struct {
	exists bool
	data   []byte
	mode   fs.FileMode // permission bits; 0600 for a file still to create
}

// readState reads path; a missing file is not an error.
func readState(path string) (fileState, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{mode: 0o600}, nil
	}
	if err != nil {
		return fileState{}, err
	}
	if !st.Mode().IsRegular() {
		return fileState{}, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fileState{}, err
	}
	return fileState{exists: true, data: data, mode: st.Mode().Perm()}, nil
}

// resolve follows symbolic links so that a settings file kept in a
// dotfiles repository is written through its link, not replaced by a copy.
// A path that does not exist yet is returned as it is.
func resolve(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// missingDirs lists the folders MkdirAll(dir) would create, outermost first.
func missingDirs(dir string) []string {
	var out []string
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		out = append([]string{d}, out...)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return out
}
