package clientsetup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/app/atomicfile"
)

// ErrNothingToUndo is returned by [Undo] when no change of the client is
// recorded.
var ErrNothingToUndo = errors.New("clientsetup: nothing to undo")

// ErrChangedSince is matched (errors.Is) by a [*ChangedError].
var ErrChangedSince = errors.New("clientsetup: file changed since kirotray wrote it")

// ChangedError is returned by [Undo] when files were edited by someone else
// after kirotray wrote them; nothing was restored. [ForceUndo] restores
// them anyway, discarding those edits.
type ChangedError struct {
	Paths []string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("clientsetup: changed since kirotray wrote them, not restored: %s", strings.Join(e.Paths, ", "))
}

func (e *ChangedError) Is(target error) bool { return target == ErrChangedSince }

// journal records one change of one client: enough to restore every file
// exactly. It is journal.json in StateDir/clientsetup/<client>/, beside the
// original contents (*.orig).
type journal struct {
	Client Client        `json:"client"`
	At     time.Time     `json:"at"`
	Files  []journalFile `json:"files"`
}

type journalFile struct {
	Path    string      `json:"path"`
	Existed bool        `json:"existed"`
	Mode    fs.FileMode `json:"mode,omitempty"` // of the original
	Orig    string      `json:"orig,omitempty"` // file name of the original content in the journal folder
	Wrote   string      `json:"wrote"`          // SHA-256 of what kirotray wrote
	OrigSum string      `json:"origSum,omitempty"`
	Lenient bool        `json:"lenient,omitempty"` // left alone, not refused, when changed since
	Dirs    []string    `json:"dirs,omitempty"`    // folders kirotray created, outermost first
}

// mu serialises changes and undos within the process.
var mu sync.Mutex

func journalDir(stateDir string, c Client) string {
	return filepath.Join(stateDir, "clientsetup", string(c))
}

// commit records p in the journal, then writes its files. If a write
// fails, the files already written are restored.
func commit(o *Options, c Client, p *prepared) (*Change, error) {
	ch := &Change{Plan: p.plan, At: o.now().UTC()}
	if len(p.files) == 0 {
		return ch, nil // nothing to write: the recorded change stays undoable
	}
	if o.StateDir == "" {
		return nil, errors.New("clientsetup: no state folder for the undo journal")
	}
	mu.Lock()
	defer mu.Unlock()
	dir := journalDir(o.StateDir, c)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	j := journal{Client: c, At: ch.At}
	for i, f := range p.files {
		jf := journalFile{Path: f.path, Existed: f.old.exists, Wrote: hashOf(f.new), Lenient: f.lenient, Dirs: f.dirs}
		if f.old.exists {
			jf.Mode, jf.Orig, jf.OrigSum = f.old.mode, fmt.Sprintf("%s-%d.orig", stamp, i), hashOf(f.old.data)
			if err := atomicfile.Write(filepath.Join(dir, jf.Orig), f.old.data, 0o600); err != nil {
				return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
			}
		}
		j.Files = append(j.Files, jf)
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "journal.json"), data, 0o600); err != nil {
		return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
	}
	removeOrigs(dir, stamp+"-")

	for _, f := range p.files {
		err := os.MkdirAll(filepath.Dir(f.path), 0o700)
		if err == nil {
			err = atomicfile.Write(f.path, f.new, f.old.mode)
		}
		if err != nil {
			_, _ = undoLocked(o.StateDir, c, false) // puts back the files already written
			return nil, fmt.Errorf("clientsetup: write %s: %w", f.path, err)
		}
	}
	return ch, nil
}

// removeOrigs deletes the journal folder's saved originals except those
// whose name starts with keep ("" keeps none).
func removeOrigs(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".orig") && (keep == "" || !strings.HasPrefix(e.Name(), keep)) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func readJournal(stateDir string, c Client) (*journal, error) {
	data, err := os.ReadFile(filepath.Join(journalDir(stateDir, c), "journal.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNothingToUndo
	}
	if err != nil {
		return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.Client != c {
		return nil, fmt.Errorf("clientsetup: undo journal of %s is damaged", c)
	}
	return &j, nil
}

// CanUndo reports whether a change of client c is recorded in stateDir.
func CanUndo(stateDir string, c Client) bool {
	_, err := readJournal(stateDir, c)
	return err == nil
}

// Undo restores the files of the last change of client c to exactly what
// they held before (deleting those that did not exist, and folders it
// created if they are empty), then forgets the change. If a file was
// edited since, it restores nothing and returns a [*ChangedError]; an
// exception is Claude Code's ~/.claude.json, which Claude Code rewrites all
// the time: it is left as it is, and the returned Change says so.
func Undo(stateDir string, c Client) (*Change, error) {
	mu.Lock()
	defer mu.Unlock()
	return undoLocked(stateDir, c, false)
}

// ForceUndo is [Undo] that also restores files edited since, discarding
// those edits (still not ~/.claude.json).
func ForceUndo(stateDir string, c Client) (*Change, error) {
	mu.Lock()
	defer mu.Unlock()
	return undoLocked(stateDir, c, true)
}

func undoLocked(stateDir string, c Client, force bool) (*Change, error) {
	j, err := readJournal(stateDir, c)
	if err != nil {
		return nil, err
	}
	dir := journalDir(stateDir, c)
	type step struct {
		f    journalFile
		skip string // why it is left alone; "" restores it
	}
	var steps []step
	var changed []string
	for _, f := range j.Files {
		cur, err := readState(f.Path)
		if err != nil {
			return nil, fmt.Errorf("clientsetup: %w", err)
		}
		sum := hashOf(cur.data)
		switch {
		case cur.exists && sum == f.Wrote:
			steps = append(steps, step{f: f})
		case cur.exists == f.Existed && (!cur.exists || sum == f.OrigSum):
			steps = append(steps, step{f: f, skip: "already as it was"})
		case f.Lenient:
			steps = append(steps, step{f: f, skip: "changed since by its owner; left as it is"})
		case force:
			steps = append(steps, step{f: f})
		default:
			changed = append(changed, f.Path)
		}
	}
	if len(changed) > 0 {
		return nil, &ChangedError{Paths: changed}
	}
	ch := &Change{Plan: Plan{Client: c}, At: j.At}
	for _, s := range steps {
		fp := FilePlan{Path: s.f.Path, Create: !s.f.Existed}
		switch {
		case s.skip != "":
			fp.Edits = []string{"not restored: " + s.skip}
		case !s.f.Existed:
			if err := os.Remove(s.f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("clientsetup: undo: %w", err)
			}
			for i := len(s.f.Dirs) - 1; i >= 0; i-- {
				_ = os.Remove(s.f.Dirs[i]) // only if empty
			}
			fp.Edits = []string{"removed (kirotray created it)"}
		default:
			orig, err := os.ReadFile(filepath.Join(dir, s.f.Orig))
			if err != nil || hashOf(orig) != s.f.OrigSum {
				return nil, fmt.Errorf("clientsetup: undo journal of %s: saved copy of %s is missing or damaged", c, s.f.Path)
			}
			if err := atomicfile.Write(s.f.Path, orig, s.f.Mode); err != nil {
				return nil, fmt.Errorf("clientsetup: undo: %w", err)
			}
			fp.Edits = []string{"restored as it was before " + j.At.Format(time.DateTime) + " UTC"}
		}
		ch.Files = append(ch.Files, fp)
	}
	if err := os.Remove(filepath.Join(dir, "journal.json")); err != nil {
		return nil, fmt.Errorf("clientsetup: undo journal: %w", err)
	}
	removeOrigs(dir, "")
	return ch, nil
}
