package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kirotray/kirotray/app/autostart"
	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/redact"
)

func TestPreferencesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadPreferences(dir)
	if err != nil || p != DefaultPreferences() || !p.StartProxy {
		t.Fatalf("missing file: %+v, %v", p, err)
	}
	want := Preferences{Listen: "127.0.0.1:9123", StartProxy: false, LaunchAtLogin: true, Language: "zh", KiroAPI: "https://q.eu-central-1.amazonaws.com"}
	if err := SavePreferences(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPreferences(dir)
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	fi, err := os.Stat(filepath.Join(dir, prefsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("settings file mode: %v %v", fi, err)
	}
	// A file with only some keys keeps the defaults of the others.
	os.WriteFile(filepath.Join(dir, prefsFile), []byte(`{"language":"en"}`), 0o600)
	if got, err := LoadPreferences(dir); err != nil || !got.StartProxy || got.Language != "en" {
		t.Fatalf("partial file: %+v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, prefsFile), []byte(`{"listen":`), 0o600)
	got, err = LoadPreferences(dir)
	if err == nil || !strings.Contains(err.Error(), "damaged") || got != DefaultPreferences() {
		t.Fatalf("damaged file: %+v, %v", got, err)
	}
}

func TestPreferencesCheck(t *testing.T) {
	for _, tc := range []struct {
		p    Preferences
		want string // substring of the error; empty: valid
	}{
		{Preferences{}, ""},
		{Preferences{Listen: "127.0.0.1:8317", Language: "zh"}, ""},
		{Preferences{Listen: "localhost:8080"}, ""},
		{Preferences{Listen: "[::1]:8080"}, ""},
		{Preferences{Listen: "8317"}, "want 127.0.0.1:PORT"},
		{Preferences{Listen: "127.0.0.1:0"}, "from 1 to 65535"},
		{Preferences{Listen: "127.0.0.1:70000"}, "from 1 to 65535"},
		{Preferences{Listen: "0.0.0.0:8317"}, "this computer only"},
		{Preferences{Listen: "192.168.1.2:8317"}, "this computer only"},
		{Preferences{Language: "fr"}, "language"},
		{Preferences{KiroAPI: "ftp://x"}, "not a service URL"},
		{Preferences{OIDC: "https://"}, "not a service URL"},
	} {
		err := tc.p.Check()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestNextFreeAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	next := NextFreeAddr(busy)
	if next == "" || next == busy || PortOf(next) <= PortOf(busy) {
		t.Fatalf("next free after %s: %q", busy, next)
	}
	l2, err := net.Listen("tcp", next)
	if err != nil {
		t.Fatalf("offered %s, but it cannot be listened on: %v", next, err)
	}
	l2.Close()
}

// A busy port fails with a free one offered; taking the offer starts the
// proxy there and saves the address for the next launch.
func TestAppBusyPortOffersNext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := newTestApp(t, Config{Listen: ln.Addr().String(), Demo: true, APIKey: "kt-test"})
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("started on a busy port")
	}
	st := a.State()
	if st.Proxy != Failed || st.SuggestedListen == "" || !strings.Contains(st.Message, "in use") {
		t.Fatalf("state after busy port: %+v", st)
	}
	offered := st.SuggestedListen
	if err := a.UseAddr(context.Background(), offered); err != nil {
		t.Fatal(err)
	}
	st = a.State()
	if st.Proxy != Running || st.BaseURL != "http://"+offered || st.SuggestedListen != "" {
		t.Fatalf("after UseAddr(%s): %+v", offered, st)
	}
	saved, err := LoadPreferences(a.cfg.ConfigDir)
	if err != nil || saved.Listen != offered {
		t.Fatalf("saved %+v, %v", saved, err)
	}
	// The next App starts on the saved address with no flag.
	a.Close()
	b := New(Config{ConfigDir: a.cfg.ConfigDir, Keychain: a.cfg.Keychain, Demo: true, APIKey: "kt-test", Logger: a.cfg.Logger})
	defer b.Close()
	if got := b.State().BaseURL; got != "http://"+saved.Listen {
		t.Fatalf("second launch base URL %s, want the saved %s", got, saved.Listen)
	}
}

// A new address that cannot be used leaves the proxy running on the old
// one, with the old settings restored.
func TestSetPreferencesRollsBack(t *testing.T) {
	a := newTestApp(t, Config{Demo: true, APIKey: "kt-test"})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := a.State().BaseURL
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := a.Preferences()
	p.Listen = ln.Addr().String()
	err = a.SetPreferences(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "old ones are back") {
		t.Fatalf("SetPreferences to a busy port: %v", err)
	}
	if a.Preferences().Listen == p.Listen {
		t.Fatal("the failed address was kept")
	}
	if st := a.State(); st.Proxy != Running {
		t.Fatalf("proxy after rollback: %+v (was on %s)", st, before)
	}
	saved, _ := LoadPreferences(a.cfg.ConfigDir)
	if saved.Listen == p.Listen {
		t.Fatal("the failed address was saved")
	}
}

func TestFixListenOnce(t *testing.T) {
	a := newTestApp(t, Config{})
	a.cfg.Listen = "" // as when no flag or variable names an address
	a.fixListen("127.0.0.1:8317")
	a.fixListen("127.0.0.1:9999") // later starts never move it
	saved, err := LoadPreferences(a.cfg.ConfigDir)
	if err != nil || saved.Listen != "127.0.0.1:8317" || a.Preferences().Listen != "127.0.0.1:8317" {
		t.Fatalf("saved %+v, %v", saved, err)
	}
}

func TestAccountsManagement(t *testing.T) {
	a := newTestApp(t, Config{})
	s, err := a.Store()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []AccountMeta{
		{Name: "home", Kind: KindSocial, Provider: "Google", Email: "me@example.com", Source: SourceSignIn},
		{Name: "work", Kind: KindSocial, Provider: "Github", Email: "work@example.com", Source: SourceSignIn},
		{Name: "spare", Kind: KindSocial, Provider: "Google", Email: "spare@example.com", Source: SourceSignIn},
	} {
		if _, err := s.Add(m, Secrets{RefreshToken: redact.Secret("rt-" + m.Name)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := a.WatchAccounts(ctx)
	names := func(vs []AccountView) string {
		var out []string
		for _, v := range vs {
			s := v.Name
			if !v.Enabled {
				s += "(off)"
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	// waitFor reads the watch until the list reads want.
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case vs := <-watch:
				if names(vs) == want {
					return
				}
			case <-deadline:
				t.Fatalf("account list never became %s", want)
			}
		}
	}
	a.accountsChanged()
	waitFor("home,work,spare")
	if err := a.MoveAccount("spare", -1); err != nil {
		t.Fatal(err)
	}
	waitFor("home,spare,work")
	if err := a.SetAccountEnabled("work", false); err != nil {
		t.Fatal(err)
	}
	waitFor("home,spare,work(off)")
	if err := a.RemoveAccount("home"); err != nil {
		t.Fatal(err)
	}
	waitFor("spare,work(off)")
	if err := a.RemoveAccount("nobody"); err == nil {
		t.Fatal("removed an account that does not exist")
	}
	vs, err := a.Accounts()
	if err != nil || len(vs) != 2 || vs[0].Priority >= vs[1].Priority {
		t.Fatalf("accounts %+v, %v", vs, err)
	}
	if err := a.SetNetworkSettings(Settings{Proxy: "ftp://nope"}); err == nil {
		t.Fatal("accepted an ftp outbound proxy")
	}
	rl, _ := ParseRateLimit("60/min")
	if err := a.SetNetworkSettings(Settings{Proxy: "socks5://127.0.0.1:1080", RateLimit: rl}); err != nil {
		t.Fatal(err)
	}
	if ns, err := a.NetworkSettings(); err != nil || ns.Proxy != "socks5://127.0.0.1:1080" || ns.RateLimit != rl {
		t.Fatalf("network settings %+v, %v", ns, err)
	}
}

func TestIDEWarning(t *testing.T) {
	ide := IDELogin{State: IDESignedIn, Email: "Me@Example.com"}
	for _, tc := range []struct {
		m    AccountMeta
		ide  IDELogin
		want string
	}{
		{AccountMeta{Email: "me@example.com", Source: SourceSignIn}, ide, "Kiro IDE is signed in with this login too"},
		{AccountMeta{Email: "other@example.com", Source: SourceSignIn}, ide, ""},
		{AccountMeta{Email: "me@example.com"}, IDELogin{State: IDENotSignedIn, Email: "me@example.com"}, ""},
		{AccountMeta{Source: SourceIDE}, ide, "Follows the Kiro IDE's login"},
		{AccountMeta{Source: SourceSignIn}, ide, ""},
	} {
		if got := ideWarning(tc.m, tc.ide); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.m, got, tc.want)
		}
	}
}

// A new /ws subscriber gets the state and the accounts first, and the
// accounts carry no identifiers or proxy password.
func TestWebsocketWelcomeSnapshot(t *testing.T) {
	a := newTestApp(t, Config{Demo: true, APIKey: "kt-test"})
	s, err := a.Store()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(AccountMeta{Name: "work", Kind: KindSocial, Email: "w@example.com", Proxy: "http://bob:hunter2@127.0.0.1:3128"},
		Secrets{RefreshToken: "rt-secret-value"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := a.WatchAccounts(ctx)
	a.accountsChanged()
	for vs := range watch {
		if len(vs) == 1 {
			break
		}
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := "ws://" + strings.TrimPrefix(a.State().BaseURL, "http://") + "/ws"
	conn, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"x-api-key": {"kt-test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var types []string
	for len(types) < 2 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(msg, &env); err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Type)
		if env.Type == "accounts" {
			for _, leak := range []string{"hunter2", "machineId", "rt-secret-value", "clientId"} {
				if strings.Contains(string(env.Data), leak) {
					t.Errorf("accounts event carries %q: %s", leak, env.Data)
				}
			}
			if !strings.Contains(string(env.Data), `"name":"work"`) {
				t.Errorf("accounts event lacks the account: %s", env.Data)
			}
		}
	}
	if types[0] != "state" || types[1] != "accounts" {
		t.Fatalf("first messages %v, want state then accounts", types)
	}
}

func TestLaunchAtLogin(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, Config{Autostart: autostart.Config{Dir: dir}})
	exe := executable
	t.Cleanup(func() { executable = exe })
	executable = func() (string, error) { return "/opt/kirotray/kirotray", nil }
	p := a.Preferences()
	p.LaunchAtLogin = true
	if err := a.SetPreferences(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	entry, err := os.ReadFile(filepath.Join(dir, "kirotray.desktop"))
	if err != nil || !strings.Contains(string(entry), "Exec=/opt/kirotray/kirotray") {
		t.Fatalf("autostart entry: %s, %v", entry, err)
	}
	if on, err := (autostart.Config{Dir: dir}).Enabled(); err != nil || !on {
		t.Fatalf("enabled: %v, %v", on, err)
	}
	p.LaunchAtLogin = false
	if err := a.SetPreferences(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if on, _ := (autostart.Config{Dir: dir}).Enabled(); on {
		t.Fatal("still launched at login")
	}
	// A binary of `go run` is refused: it will be gone at the next login.
	executable = func() (string, error) {
		return filepath.Join(os.TempDir(), "go-build123", "b001", "exe", "kirotray"), nil
	}
	p.LaunchAtLogin = true
	if err := a.SetPreferences(context.Background(), p); err == nil || !strings.Contains(err.Error(), "installed kirotray") {
		t.Fatalf("go run binary: %v", err)
	}
	if a.Preferences().LaunchAtLogin {
		t.Fatal("preference saved although the login item was not made")
	}
}

// Finished requests are counted per account and reach the account list
// without a store reload, at most once a second.
func TestRequestsTodayPerAccount(t *testing.T) {
	a := newTestApp(t, Config{})
	s, err := a.Store()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"home", "work"} {
		if _, err := s.Add(AccountMeta{Name: n, Kind: KindSocial, Email: n + "@example.com"}, Secrets{RefreshToken: redact.Secret("rt-" + n)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := a.WatchAccounts(ctx)
	a.accountsChanged()
	sink := appSink{a}
	for _, acct := range []string{"work", "work", "home", ""} {
		sink.Publish(activity.Request{Kind: activity.RequestFinished, Account: acct, Status: 200, Time: time.Now()})
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case vs := <-watch:
			got := map[string]int{}
			for _, v := range vs {
				got[v.Name] = v.RequestsToday
			}
			if got["work"] == 2 && got["home"] == 1 {
				if st := a.State(); st.RequestsToday != 4 {
					t.Fatalf("requests today %d, want 4", st.RequestsToday)
				}
				return
			}
		case <-deadline:
			t.Fatal("per-account counts never reached the account list")
		}
	}
}
