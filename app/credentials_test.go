package app

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/app/atomicfile"
	"github.com/kirotray/kirotray/proxy/redact"
)

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadCredentials(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "\xef\xbb\xbf"+`[
  {"name":"work","refreshToken":"rt-work","authMethod":"IdC","clientId":"cid","clientSecret":"cs",
   "region":"eu-west-1","profileArn":"arn:p","priority":2,"machineId":"`+strings.Repeat("AB", 32)+`","email":"x@y"},
  {"refreshToken":"rt-2","clientId":"cid","clientSecret":"cs"},
  {"name":"home","refreshToken":"rt-home","priority":null,"machineId":"0f0e0d0c-0b0a-0908-0706-050403020100"}
]`, 0o600)
	f, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Credentials()
	if len(cs) != 3 {
		t.Fatalf("got %d credentials", len(cs))
	}
	w := cs[0]
	if w.Name != "work" || w.RefreshToken.Reveal() != "rt-work" || w.AuthMethod != AuthIdC || w.ClientID != "cid" ||
		w.ClientSecret.Reveal() != "cs" || w.Region != "eu-west-1" || w.ProfileARN != "arn:p" || w.Priority != 2 ||
		w.MachineID != strings.Repeat("ab", 32) {
		t.Errorf("entry 1 = %+v", w)
	}
	if cs[1].Name != "account2" || cs[1].AuthMethod != AuthIdC {
		t.Errorf("entry 2: name %q method %q; want a default name and idc inferred from the client", cs[1].Name, cs[1].AuthMethod)
	}
	if cs[2].AuthMethod != AuthSocial || cs[2].MachineID != strings.Repeat("0f0e0d0c0b0a09080706050403020100", 2) {
		t.Errorf("entry 3 = %+v", cs[2])
	}
	if s := fmt.Sprintf("%v %+v %#v", w, w, w); strings.Contains(s, "rt-work") || strings.Contains(s, `"cs"`) {
		t.Errorf("a credential prints its secrets: %s", s)
	}
}

func TestLoadCredentialsSingleObject(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `{"name":"solo","refreshToken":"rt","authMethod":"social"}`, 0o600)
	f, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Credentials()
	cs[0].RefreshToken = "rt2"
	if err := f.Save(cs); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "{\n  \"name\": \"solo\",\n  \"refreshToken\": \"rt2\",\n  \"authMethod\": \"social\"\n}\n"; string(b) != want {
		t.Fatalf("saved\n%s\nwant\n%s", b, want)
	}
}

func TestLoadCredentialsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ content, want string }{
		{`[{"name":"a","refreshToken":"x"},{"name":"work","refreshToken":"y","authMethod":"idc","clientId":"c"}]`,
			`credentials entry 2 ("work"): authMethod "idc" needs clientId and clientSecret`},
		{`[{"name":"a"}]`, `credentials entry 1 ("a"): refreshToken is missing`},
		{`[{"refreshToken":""}]`, `credentials entry 1: refreshToken is missing`},
		{`[{"name":"a","refreshToken":"x","authMethod":"api_key"}]`, `credentials entry 1 ("a"): authMethod "api_key" needs an apiKey (ksk_…)`},
		{`[{"name":"a","apiKey":"ksk_short"}]`, `credentials entry 1 ("a"): apiKey: a 9-character API key looks truncated`},
		{`[{"name":"a","refreshToken":"x"},{"name":"a","refreshToken":"y"}]`, `credentials entry 2 ("a"): name "a" is used by entry 1 too`},
		{`[{"name":"a","refreshToken":"x","priority":"high"}]`, `credentials entry 1 ("a"): priority must be a whole number`},
		{`[{"name":"a","refreshToken":42}]`, `credentials entry 1 ("a"): refreshToken must be a string`},
		{`[{"name":"a","refreshToken":"x","refreshToken":"y"}]`, `credentials entry 1: key "refreshToken" appears twice`},
		{`[{"name":"a","refreshToken":"x","machineId":"abc"}]`, `credentials entry 1 ("a"): machineId "abc" must be 64 hex characters`},
		{`[{"name":"a","refreshToken":"x","region":"us-east-1.evil.com/"}]`, `region "us-east-1.evil.com/" is not an AWS region name`},
		{`[1]`, `credentials entry 1: not a JSON object`},
		{`[{"name":"a","refreshToken":"x"}`, `not valid JSON`},
		{`{"name":"a","refreshToken":"x"} {}`, `data after the object`},
		{`"hello"`, `want a JSON array of accounts`},
		{``, `want a JSON array of accounts`},
	} {
		path := writeFile(t, tc.content, 0o600)
		_, err := LoadCredentials(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadCredentials(%s): err = %v, want %q", tc.content, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), `"x"`) {
			t.Errorf("error %q shows a refresh token", err)
		}
	}
	if _, err := LoadCredentials(filepath.Join(t.TempDir(), "missing.json")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// Saving keeps every key the file had, in its order and spelling, changes
// only what changed, and appends new keys; the file ends up 0600.
func TestSavePreservesTheFile(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `[
  {"note": {"added by": "me", "list": [1, 2]}, "name": "work", "authMethod": "Social",
   "refreshToken": "old", "priority": 0, "profileArn": "arn:a"},
  {"name": "b", "refreshToken": "b-rt", "x-custom": true}
]`, 0o644)
	f, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Credentials()
	cs[0].RefreshToken = "new<&>"
	cs[0].ProfileARN = "arn:b"
	cs[1].MachineID = strings.Repeat("1", 64)
	if err := f.Save(cs); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := `[
  {
    "note": {
      "added by": "me",
      "list": [
        1,
        2
      ]
    },
    "name": "work",
    "authMethod": "Social",
    "refreshToken": "new<&>",
    "priority": 0,
    "profileArn": "arn:b"
  },
  {
    "name": "b",
    "refreshToken": "b-rt",
    "x-custom": true,
    "machineId": "` + strings.Repeat("1", 64) + `"
  }
]
`
	if string(b) != want {
		t.Fatalf("saved\n%s\nwant\n%s", b, want)
	}
	checkMode(t, path)
	checkNoTemps(t, path)

	// And it loads back to the same values.
	g, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Credentials(); got[0].RefreshToken != "new<&>" || got[1].MachineID != cs[1].MachineID {
		t.Fatalf("reloaded %+v", got)
	}
}

// A symlinked credentials file is written through the link.
func TestSaveThroughSymlink(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	real := writeFile(t, `[{"name":"a","refreshToken":"x"}]`, 0o600)
	link := filepath.Join(t.TempDir(), "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f, err := LoadCredentials(link)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Credentials()
	cs[0].RefreshToken = "y"
	if err := f.Save(cs); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), `"y"`) {
		t.Fatalf("target not updated: %s", b)
	}
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Fatalf("mode %v, want 0600", m)
	}
}

func checkNoTemps(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Fatalf("stray file left next to the credentials: %s", e.Name())
		}
	}
}

// Leftovers of interrupted saves: the cut-short ones go, the newest complete
// one wins if it is not older than the file.
func TestLoadRecoversInterruptedSave(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `[{"name":"a","refreshToken":"rt-1"}]`, 0o600)
	dir := filepath.Dir(path)
	base := time.Now().Add(-time.Hour)
	put := func(name, content string, age time.Duration) {
		p := filepath.Join(dir, atomicfile.TempPrefix("credentials.json")+name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, base.Add(age), base.Add(age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(path, base, base); err != nil {
		t.Fatal(err)
	}
	put("1", `[{"name":"a","refreshToken":"rt-2"}]`, time.Second)   // complete, newer
	put("2", `[{"name":"a","refreshToken":"rt-3"}]`, 2*time.Second) // complete, newest: wins
	put("3", `[{"name":"a","refreshToken":"rt-4`, 3*time.Second)    // cut short by the crash
	put("4", `[{"name":"a","refreshToken":"rt-0"}]`, -time.Second)  // older than the file
	f, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Credentials()[0].RefreshToken.Reveal(); got != "rt-3" {
		t.Fatalf("loaded %q, want the newest complete save rt-3", got)
	}
	checkNoTemps(t, path)

	// Nothing newer: the file stays as it is.
	put("5", `[{"name":"a","refreshToken":"rt-old"}]`, -time.Hour)
	put("6", ``, time.Hour)
	f, err = LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Credentials()[0].RefreshToken.Reveal(); got != "rt-3" {
		t.Fatalf("loaded %q, want rt-3", got)
	}
	checkNoTemps(t, path)
}

// TestCrashHelper is not a test: TestKillDuringSave runs the test binary
// with KIROTRAY_CRASH_FILE set, and this saves rotations into that file in a
// loop, printing each number once its save has returned, until killed.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv("KIROTRAY_CRASH_FILE")
	if path == "" {
		t.Skip("helper process for TestKillDuringSave")
	}
	f, err := LoadCredentials(path)
	if err != nil {
		fmt.Println("load:", err)
		os.Exit(2)
	}
	cs := f.Credentials()
	big := strings.Repeat("s", 64<<10) // a large entry makes writes take a while
	start, _ := strconv.Atoi(strings.TrimPrefix(cs[0].RefreshToken.Reveal(), "rt-"))
	if at := os.Getenv("KIROTRAY_CRASH_AT"); at != "" {
		testHookWrite = func(step string) {
			if step == at {
				fmt.Println("at", step)
				time.Sleep(time.Hour) // until SIGKILL
			}
		}
	}
	for i := start + 1; ; i++ {
		cs[0].RefreshToken = redact.Secret(fmt.Sprint("rt-", i))
		cs[1].ClientSecret = redact.Secret(big + strconv.Itoa(i))
		if err := f.Save(cs); err != nil {
			fmt.Println("save:", err)
			os.Exit(2)
		}
		fmt.Println(i)
	}
}

// TestKillDuringSave kills a process with SIGKILL while it saves rotated
// tokens over and over: at a random moment, right after the temporary file
// was created (empty), and right after it was written and synced but not yet
// renamed. Every time the file must load, hold one complete version at least
// as new as the last save that returned (exactly the interrupted one when the
// kill came after its sync), stay 0600, and have no temporary file left.
func TestKillDuringSave(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	path := writeFile(t, `[{"name":"a","refreshToken":"rt-0","keep":"me"},
		{"name":"b","refreshToken":"b","authMethod":"idc","clientId":"c","clientSecret":"s"}]`, 0o600)
	version := func() int {
		f, err := LoadCredentials(path)
		if err != nil {
			t.Fatalf("after kill: %v", err)
		}
		cs := f.Credentials()
		v, _ := strconv.Atoi(strings.TrimPrefix(cs[0].RefreshToken.Reveal(), "rt-"))
		if v > 0 && !strings.HasSuffix(cs[1].ClientSecret.Reveal(), strconv.Itoa(v)) {
			t.Fatalf("rt-%d: the entries come from different saves", v)
		}
		checkMode(t, path)
		checkNoTemps(t, path)
		if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"keep": "me"`) {
			t.Fatal("unknown key lost")
		}
		return v
	}
	prev, random, interrupted := 0, 0, 0
	for round := range 18 {
		at := []string{"", "created", "synced"}[round%3]
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
		cmd.Env = append(os.Environ(), "KIROTRAY_CRASH_FILE="+path, "KIROTRAY_CRASH_AT="+at)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acked, saves, began := prev, 0, time.Now()
		for sc.Scan() {
			line := sc.Text()
			if line == "at "+at {
				break // parked at the step: kill it there
			}
			n, err := strconv.Atoi(line)
			if err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: helper said %q", round, line)
			}
			acked, saves = n, saves+1
			if saves == 1 {
				began = time.Now()
			}
			if at == "" && saves == 3 {
				// A random point of the next save (jitter, not synchronisation).
				time.Sleep(time.Duration(rand.Int64N(int64(time.Since(began)/2) + 1)))
				break
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) > 1 && at == "" {
			random++ // killed between creating a temporary file and renaming it
		}
		got := version()
		switch {
		case at == "synced" && got != acked+1:
			t.Fatalf("round %d: killed after sync before rename: loaded rt-%d, want the synced rt-%d", round, got, acked+1)
		case at == "created" && got != acked:
			t.Fatalf("round %d: killed with an empty temporary file: loaded rt-%d, want rt-%d", round, got, acked)
		case got < acked:
			t.Fatalf("round %d: loaded rt-%d, but rt-%d was saved", round, got, acked)
		}
		if at != "" {
			interrupted++
		}
		prev = got
	}
	t.Logf("%d kills inside a write by design, %d of 6 random kills landed inside one", interrupted, random)
}
