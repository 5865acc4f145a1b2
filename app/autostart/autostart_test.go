package autostart

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDesktopExec(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/kirotray"}, `/usr/bin/kirotray`},
		{[]string{"/home/a b/kirotray"}, `"/home/a b/kirotray"`},
		{[]string{`/opt/$x/"q"/k`}, `"/opt/\\$x/\\"q\\"/k"`},
		{[]string{`/a\b`}, `"/a\\\\b"`},
		{[]string{"/opt/100%/k"}, `/opt/100%%/k`},
		{[]string{"/opt/50% off/k"}, `"/opt/50%% off/k"`},
		{[]string{"/bin/k", "serve", ""}, `/bin/k serve ""`},
		{[]string{"/a`b"}, "\"/a\\\\`b\""},
	}
	for _, tt := range tests {
		if got := DesktopExec(tt.args...); got != tt.want {
			t.Errorf("DesktopExec(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestDesktopEntry(t *testing.T) {
	got := string(DesktopEntry("/home/me/My Apps/kirotray"))
	for _, want := range []string{
		"[Desktop Entry]\n", "Type=Application\n", "Exec=\"/home/me/My Apps/kirotray\"\n",
		"X-GNOME-Autostart-enabled=true\n", "Icon=dev.kirotray.app\n", "Comment=",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("entry lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(got, "[Desktop Entry]\n") || !desktopEnabled([]byte(got)) {
		t.Errorf("entry:\n%s", got)
	}
}

func TestDesktopEnabled(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"[Desktop Entry]\nExec=k\n", true},
		{"[Desktop Entry]\nHidden=true\n", false},
		{"[Desktop Entry]\nX-GNOME-Autostart-enabled=false\n", false},
		{"[Desktop Entry]\nX-GNOME-Autostart-enabled = false\n", false},
		{"[Desktop Action x]\nHidden=true\n[Desktop Entry]\n", true},
	}
	for _, tt := range tests {
		if got := desktopEnabled([]byte(tt.in)); got != tt.want {
			t.Errorf("desktopEnabled(%q) = %v", tt.in, got)
		}
	}
}

func TestLaunchAgent(t *testing.T) {
	exe := "/Applications/K & <k>.app/Contents/MacOS/kirotray"
	var plist struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Value   string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(LaunchAgent(exe), &plist); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var key string
	for _, it := range plist.Dict.Items {
		switch it.XMLName.Local {
		case "key":
			key = it.Value
		case "string":
			got[key] = it.Value
		case "array":
			got[key] = strings.Join(it.Strings, "|")
		default:
			got[key] = it.XMLName.Local
		}
	}
	want := map[string]string{"Label": "dev.kirotray.app", "ProgramArguments": exe, "RunAtLoad": "true", "ProcessType": "Interactive"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestWindowsCommand(t *testing.T) {
	if got := WindowsCommand(`C:\Program Files\kirotray\kirotray.exe`); got != `"C:\Program Files\kirotray\kirotray.exe"` {
		t.Errorf("got %s", got)
	}
}

// TestFileWriters runs the file side of the Linux and macOS login items on
// any OS.
func TestFileWriters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart")
	for _, tt := range []struct {
		name string
		data []byte
	}{{"kirotray.desktop", DesktopEntry("/bin/kirotray")}, {Label + ".plist", LaunchAgent("/bin/kirotray")}} {
		p := filepath.Join(dir, tt.name)
		if on, err := fileEnabled(p, desktopEnabled); on || err != nil {
			t.Fatalf("before: %v %v", on, err)
		}
		if err := enableFile(p, tt.data); err != nil {
			t.Fatal(err)
		}
		if err := enableFile(p, tt.data); err != nil { // again: replaces
			t.Fatal(err)
		}
		if on, err := fileEnabled(p, desktopEnabled); !on || err != nil {
			t.Fatalf("after enable: %v %v", on, err)
		}
		if st, _ := os.Stat(p); runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
			t.Errorf("mode %v", st.Mode())
		}
		if got, _ := os.ReadFile(p); string(got) != string(tt.data) {
			t.Errorf("content %q", got)
		}
		for range 2 {
			if err := disableFile(p); err != nil {
				t.Fatal(err)
			}
		}
		if on, err := fileEnabled(p, desktopEnabled); on || err != nil {
			t.Fatalf("after disable: %v %v", on, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("see TestRunKeyRoundTrip")
	}
	c := Config{Dir: filepath.Join(t.TempDir(), "login")}
	exe := filepath.Join(t.TempDir(), "kirotray")
	if on, err := c.Enabled(); on || err != nil {
		t.Fatalf("before: %v %v", on, err)
	}
	if err := c.Enable(exe); err != nil {
		t.Fatal(err)
	}
	if on, err := c.Enabled(); !on || err != nil {
		t.Fatalf("after enable: %v %v", on, err)
	}
	if err := c.Disable(); err != nil {
		t.Fatal(err)
	}
	if on, err := c.Enabled(); on || err != nil {
		t.Fatalf("after disable: %v %v", on, err)
	}
	if err := c.Enable("kirotray"); err == nil {
		t.Error("relative path accepted")
	}
	if err := c.Enable("/bin/a\nb"); err == nil {
		t.Error("line break accepted")
	}
}
