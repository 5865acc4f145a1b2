package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
)

// newCoreIn returns a core whose config folder is dir (settings.json and
// accounts.json there), with the demo upstream. listen "" means the
// address saved in dir.
func newCoreIn(t *testing.T, dir, listen string) *app.App {
	t.Helper()
	core := app.New(app.Config{
		Listen:    listen,
		APIKey:    "kt-test-key",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Keychain:  &keychain.Memory{},
		ConfigDir: dir,
		Version:   "test",
	})
	t.Cleanup(core.Close)
	return core
}

// savedPrefs reads settings.json in dir; ok is false when there is none.
func savedPrefs(t *testing.T, dir string) (p app.Preferences, ok bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "settings.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return p, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p, true
}

// freePort is a port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestSettingsLoadsPreferences(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	want := app.Preferences{Listen: "127.0.0.1:9123", StartProxy: false, LaunchAtLogin: true, Language: "zh",
		KiroAPI: "https://q.eu-central-1.amazonaws.com", OIDC: "https://oidc.example.test"}
	if err := app.SavePreferences(dir, want); err != nil {
		t.Fatal(err)
	}
	core := newCoreIn(t, dir, "")
	if err := core.SetNetworkSettings(app.Settings{Proxy: "socks5://127.0.0.1:1080",
		RateLimit: app.RateLimit{MinInterval: app.Duration(2 * time.Second), PerMinute: 30}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)

	got := map[string]string{
		"port": s.port.Text, "language": s.language.Selected, "region": s.region.Selected,
		"kiroAPI": s.kiroAPI.Text, "kiroAuth": s.kiroAuth.Text, "oidc": s.oidc.Text,
		"outbound": s.outbound.Text, "minInterval": s.minInterval.Text, "perMinute": s.perMinute.Text,
	}
	for k, v := range map[string]string{
		"port": "9123", "language": "中文", "region": "Europe (Frankfurt), eu-central-1",
		"kiroAPI": "https://q.eu-central-1.amazonaws.com", "kiroAuth": "", "oidc": "https://oidc.example.test",
		"outbound": "socks5://127.0.0.1:1080", "minInterval": "2s", "perMinute": "30",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if s.startProxy.Checked || !s.launchAtLogin.Checked {
		t.Errorf("start proxy %v, launch at login %v", s.startProxy.Checked, s.launchAtLogin.Checked)
	}
	if s.save.Disabled() || s.errorText.Visible() {
		t.Errorf("save disabled %v, error %q", s.save.Disabled(), s.errorText.Text)
	}

	// Saving an unchanged form changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, "settings.json"))
	test.Tap(s.save)
	after, _ := os.ReadFile(filepath.Join(dir, "settings.json"))
	if string(before) != string(after) || s.status.Text != "No changes to save." {
		t.Errorf("unchanged save: status %q, file changed %v", s.status.Text, string(before) != string(after))
	}
}

func TestSettingsRejectsBadInput(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	core := newCoreIn(t, dir, "127.0.0.1:0")
	c, errs := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)

	for _, tc := range []struct {
		name string
		set  func()
		want string
	}{
		{"port too big", func() { s.port.SetText("99999") }, "Port: enter a number from 1 to 65535."},
		{"port not a number", func() { s.port.SetText("eighty") }, "Port: enter a number from 1 to 65535."},
		{"Kiro API URL", func() { s.kiroAPI.SetText("q.example.com") }, "Kiro API URL: enter an address like https://host"},
		{"outbound proxy", func() { s.outbound.SetText("ftp://proxy:21") }, "Outbound proxy: enter a URL like http://host:port"},
		{"interval", func() { s.minInterval.SetText("soon") }, "Minimum interval: enter a time like 2s"},
		{"interval too long", func() { s.minInterval.SetText("2h") }, "Minimum interval: enter a time like 2s"},
		{"per minute", func() { s.perMinute.SetText("0") }, "Requests per minute: enter a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.fill(app.DefaultPreferences(), "http://127.0.0.1:8317", app.Settings{}, nil)
			tc.set()
			test.Tap(s.save)
			if !s.errorText.Visible() || !strings.HasPrefix(s.errorText.Text, tc.want) {
				t.Errorf("error %q (visible %v), want %q…", s.errorText.Text, s.errorText.Visible(), tc.want)
			}
			if _, ok := savedPrefs(t, dir); ok {
				t.Error("settings.json was written")
			}
			if ns, err := core.NetworkSettings(); err != nil || ns != (app.Settings{}) {
				t.Errorf("network settings %+v, %v", ns, err)
			}
		})
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

func TestSettingsSaveCallsTheCore(t *testing.T) {
	a := test.NewTempApp(t)
	dir := t.TempDir()
	core := newCoreIn(t, dir, "127.0.0.1:0")
	c, errs := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)

	port := strconv.Itoa(freePort(t))
	s.port.SetText(port)
	s.startProxy.SetChecked(false)
	// Launch at login stays off: a test binary is refused (see
	// TestSettingsLaunchAtLoginRefusedForGoRun), and the real autostart
	// folder must not be touched.
	s.language.SetSelected("English")
	s.region.SetSelected("Europe (Frankfurt), eu-central-1")
	if s.kiroAPI.Text != "https://q.eu-central-1.amazonaws.com" {
		t.Fatalf("region filled %q", s.kiroAPI.Text)
	}
	s.outbound.SetText("http://proxy.example.test:3128")
	s.minInterval.SetText("1500ms")
	s.perMinute.SetText(" 20 ")
	test.Tap(s.save)

	if s.errorText.Visible() || s.status.Text != "Saved." {
		t.Fatalf("status %q, error %q", s.status.Text, s.errorText.Text)
	}
	p, ok := savedPrefs(t, dir)
	want := app.Preferences{Listen: "127.0.0.1:" + port, StartProxy: false, LaunchAtLogin: false, Language: "en",
		KiroAPI: "https://q.eu-central-1.amazonaws.com"}
	if !ok || p != want {
		t.Fatalf("settings.json %+v, want %+v", p, want)
	}
	ns, err := core.NetworkSettings()
	wantNS := app.Settings{Proxy: "http://proxy.example.test:3128",
		RateLimit: app.RateLimit{MinInterval: app.Duration(1500 * time.Millisecond), PerMinute: 20}}
	if err != nil || ns != wantNS {
		t.Fatalf("network settings %+v, %v; want %+v", ns, err, wantNS)
	}
	if got := core.State().BaseURL; got != "http://127.0.0.1:"+port {
		t.Errorf("base URL %q", got)
	}

	// The new port is announced, with the setup to copy.
	if !s.notice.Visible() || !strings.Contains(s.portNotice.Text, "ANTHROPIC_BASE_URL") ||
		!strings.Contains(s.portNotice.Text, "http://127.0.0.1:"+port) {
		t.Fatalf("port notice %q (visible %v)", s.portNotice.Text, s.notice.Visible())
	}
	test.Tap(s.copySetup)
	if got := a.Clipboard().Content(); !strings.Contains(got, "export ANTHROPIC_BASE_URL=http://127.0.0.1:"+port+"\n") {
		t.Errorf("clipboard %q", got)
	}

	// The default region's URL is saved as "use the default".
	s.region.SetSelected("US East (N. Virginia), us-east-1")
	if s.kiroAPI.Text != app.DefaultKiroAPI {
		t.Fatalf("region filled %q", s.kiroAPI.Text)
	}
	test.Tap(s.save)
	if p, _ := savedPrefs(t, dir); p.KiroAPI != "" || s.status.Text != "Saved." {
		t.Errorf("kiroApi %q, status %q", p.KiroAPI, s.status.Text)
	}
	// A URL of no listed region shows as Custom.
	s.kiroAPI.SetText("https://kiro.example.test")
	if s.region.Selected != "Custom (see Advanced)" {
		t.Errorf("region %q", s.region.Selected)
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

// TestSettingsFailedRestart: the running proxy cannot move to a busy port;
// the core keeps the old address and the form says why, where Save is.
func TestSettingsFailedRestart(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	old := "127.0.0.1:" + strconv.Itoa(freePort(t))
	if err := app.SavePreferences(dir, app.Preferences{Listen: old, StartProxy: true}); err != nil {
		t.Fatal(err)
	}
	core := newCoreIn(t, dir, "")
	if err := core.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer core.Stop()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	c, _ := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)
	s.port.SetText(strconv.Itoa(busy.Addr().(*net.TCPAddr).Port))
	test.Tap(s.save)

	if !s.errorText.Visible() || !strings.HasPrefix(s.errorText.Text, "Could not save: the proxy did not start with the new settings") {
		t.Fatalf("error %q", s.errorText.Text)
	}
	if p, _ := savedPrefs(t, dir); p.Listen != old {
		t.Errorf("settings.json listen %q, want %q", p.Listen, old)
	}
	if st := core.State(); st.Proxy != app.Running || st.BaseURL != "http://"+old {
		t.Errorf("core %v on %q, want running on %s", st.Proxy, st.BaseURL, old)
	}
	if s.notice.Visible() || s.save.Disabled() {
		t.Errorf("notice shown %v, save disabled %v", s.notice.Visible(), s.save.Disabled())
	}
}

// TestSettingsLanguageSwitch saves 中文 and checks the window is rebuilt in
// Chinese at once, as Run does it, and back.
func TestSettingsLanguageSwitch(t *testing.T) {
	test.NewTempApp(t)
	t.Cleanup(func() { setLanguage("en") })
	setLanguage("en")
	dir := t.TempDir()
	core := newCoreIn(t, dir, "127.0.0.1:0")
	c, errs := newTestController(t, core)
	view := newWindowContent(c)
	w := test.NewTempWindow(t, view.tabs)
	c.relabel = func() {
		view = view.relabel(c)
		w.SetContent(view.tabs)
		view.overview.apply(core.State())
	}
	view.tabs.SelectIndex(3)
	if got := view.tabs.Items[3].Text; got != "Settings" {
		t.Fatalf("tab %q", got)
	}
	oldLive := view.live

	view.settings.language.SetSelected("中文")
	test.Tap(view.settings.save)
	if p, _ := savedPrefs(t, dir); p.Language != "zh" {
		t.Fatalf("settings.json language %q", p.Language)
	}
	s := view.settings
	if s.save.Text != "保存" || view.tabs.Items[3].Text != "设置" || s.status.Text != "已保存。" {
		t.Errorf("after 中文: save %q, tab %q, status %q", s.save.Text, view.tabs.Items[3].Text, s.status.Text)
	}
	if view.tabs.SelectedIndex() != 3 || view.live != oldLive || s.language.Selected != "中文" {
		t.Errorf("tab %d, live kept %v, language %q", view.tabs.SelectedIndex(), view.live == oldLive, s.language.Selected)
	}
	if got := view.live.summary.Text; got != tr("No requests yet. They appear here as clients use the proxy.") || !strings.ContainsRune(got, '。') {
		t.Errorf("live summary %q", got)
	}

	s.language.SetSelectedIndex(0) // System: LANGUAGE=en in TestMain
	test.Tap(s.save)
	if view.settings.save.Text != "Save" || view.tabs.Items[3].Text != "Settings" {
		t.Errorf("after System: save %q, tab %q", view.settings.save.Text, view.tabs.Items[3].Text)
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

// A binary built by `go test` or `go run` is gone at the next login: the
// core refuses to register it, and the form says so in words.
func TestSettingsLaunchAtLoginRefusedForGoRun(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	core := newCoreIn(t, dir, "127.0.0.1:0")
	c, _ := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)
	s.launchAtLogin.SetChecked(true)
	test.Tap(s.save)
	if !s.errorText.Visible() || !strings.Contains(s.errorText.Text, "installed kirotray") {
		t.Fatalf("error %q (visible %v)", s.errorText.Text, s.errorText.Visible())
	}
	if p, ok := savedPrefs(t, dir); ok && p.LaunchAtLogin {
		t.Fatal("launch at login saved although refused")
	}
}

// An outbound proxy's password never shows in the form, and saving the form
// as shown keeps it.
func TestSettingsMasksProxyPassword(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	core := newCoreIn(t, dir, "127.0.0.1:0")
	const withPassword = "http://bob:hunter2@127.0.0.1:3128"
	if err := core.SetNetworkSettings(app.Settings{Proxy: withPassword}); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestController(t, core)
	s := newSettingsTab(c)
	test.NewTempWindow(t, s.content)
	if strings.Contains(s.outbound.Text, "hunter2") || !strings.Contains(s.outbound.Text, "bob:") {
		t.Fatalf("outbound entry shows %q", s.outbound.Text)
	}
	s.perMinute.SetText("10") // change something else, save the form as shown
	test.Tap(s.save)
	if s.errorText.Visible() {
		t.Fatalf("save: %s", s.errorText.Text)
	}
	ns, err := core.NetworkSettings()
	if err != nil || ns.Proxy != withPassword || ns.RateLimit.PerMinute != 10 {
		t.Fatalf("saved %+v, %v", ns, err)
	}
	s.outbound.SetText("socks5://127.0.0.1:1080") // a new one replaces it
	test.Tap(s.save)
	if ns, _ := core.NetworkSettings(); ns.Proxy != "socks5://127.0.0.1:1080" {
		t.Fatalf("saved %+v", ns)
	}
}
