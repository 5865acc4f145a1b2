package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/activity"
)

// manualArm collects the coalescing timer's callbacks so a test fires them.
type manualArm struct{ fns []func() }

func (m *manualArm) arm(f func()) { m.fns = append(m.fns, f) }

func (m *manualArm) fire() {
	fns := m.fns
	m.fns = nil
	for _, f := range fns {
		f()
	}
}

func rowText(r *liveRow) string {
	var s []string
	for c := range liveColumnWidths {
		s = append(s, cell(r, c))
	}
	return strings.Join(s, " ")
}

// connection is a "connection" envelope as StreamEvents sends it.
func connection(t *testing.T, st app.ConnectionStatus) app.Envelope {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return app.Envelope{Type: app.EventConnection, Data: json.RawMessage(data)}
}

func newTestLive(t *testing.T) (*live, *manualArm, fyne.Window) {
	test.NewTempApp(t)
	l := newLive()
	clock := &manualArm{}
	l.arm = clock.arm
	w := test.NewTempWindow(t, l.content)
	w.Resize(defaultWindowSize)
	return l, clock, w
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)

func TestLiveTableFromEvents(t *testing.T) {
	l, clock, w := newTestLive(t)
	if l.summary.Text != "No requests yet. They appear here as clients use the proxy." {
		t.Errorf("summary %q", l.summary.Text)
	}
	events := []activity.Request{
		{Kind: activity.RequestStarted, ID: "r1", Time: t0, Client: "claude-code", Model: "claude-sonnet-4-5", Stream: true},
		{Kind: activity.RequestStarted, ID: "r2", Time: t0.Add(time.Second), Client: "curl", Model: "claude-haiku-4-5"},
		{Kind: activity.RequestProgress, ID: "r1", Time: t0.Add(2 * time.Second), Client: "claude-code", Model: "claude-sonnet-4-5", Account: "work", Stream: true, OutputTokens: 40, Latency: 2 * time.Second},
	}
	for _, ev := range events {
		l.receiveEnvelope(app.Envelope{Type: "request", Data: ev})
	}
	l.receiveEnvelope(app.Envelope{Type: "accounts", Data: json.RawMessage(`[]`)}) // not the Live tab's
	if len(clock.fns) != 1 {
		t.Fatalf("a burst armed %d timers, want 1", len(clock.fns))
	}
	if len(l.rows) != 0 {
		t.Fatal("applied before the timer fired")
	}
	clock.fire()
	if n, _ := l.table.Length(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	if got := rowText(l.row(0)); got != "12:00:01 curl claude-haiku-4-5 — waiting — — —" {
		t.Errorf("newest row %q", got)
	}
	if got := rowText(l.row(1)); got != "12:00:00 claude-code claude-sonnet-4-5 work streaming — 40 2s" {
		t.Errorf("in-flight row %q", got)
	}
	if l.summary.Text != "2 requests shown, 2 in flight" {
		t.Errorf("summary %q", l.summary.Text)
	}

	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "r1", Time: t0.Add(3 * time.Second), Client: "claude-code", Model: "claude-sonnet-4-5", Account: "work", Stream: true, Status: 200, InputTokens: 1200, OutputTokens: 80, Latency: 3 * time.Second})
	l.receive(activity.Request{Kind: activity.RequestProgress, ID: "r1", OutputTokens: 60}) // late: ignored
	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "r2", Time: t0.Add(3 * time.Second), Client: "curl", Model: "claude-haiku-4-5", Status: 429, Error: "rate limited", Latency: 2 * time.Second})
	clock.fire()
	if got := rowText(l.row(1)); got != "12:00:00 claude-code claude-sonnet-4-5 work 200 1200 80 3s" {
		t.Errorf("finished row %q", got)
	}
	if got := cell(l.row(0), 4); got != "429" {
		t.Errorf("status %q", got)
	}
	if l.summary.Text != "2 requests shown, 0 in flight" {
		t.Errorf("summary %q", l.summary.Text)
	}
	w.Content().Refresh()
	markup := test.RenderToMarkup(w.Canvas())
	for _, want := range []string{"claude-sonnet-4-5", "Latency", "1200"} {
		if !strings.Contains(markup, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestLiveKeepsAtMostMaxRows(t *testing.T) {
	test.NewTempApp(t)
	l := newLive()
	var batch []liveItem
	for i := range maxLiveRows + 50 {
		batch = append(batch, liveItem{req: activity.Request{Kind: activity.RequestFinished, ID: "r" + time.Duration(i).String(), Status: 200}})
	}
	l.apply(batch)
	if len(l.rows) != maxLiveRows || len(l.byID) != maxLiveRows {
		t.Fatalf("%d rows, %d ids", len(l.rows), len(l.byID))
	}
	if l.row(0).ev.ID != "r549ns" || l.row(maxLiveRows-1).ev.ID != "r50ns" {
		t.Fatalf("newest %s, oldest %s", l.row(0).ev.ID, l.row(maxLiveRows-1).ev.ID)
	}
}

// TestLiveConnection: the summary says when the stream is down, and a
// request in flight while it was down is not counted as running.
func TestLiveConnection(t *testing.T) {
	l, clock, _ := newTestLive(t)
	l.setProxy(app.Running)
	l.receiveEnvelope(connection(t, app.ConnectionStatus{Connected: true}))
	l.receive(activity.Request{Kind: activity.RequestStarted, ID: "r1", Time: t0, Model: "m", Stream: true})
	clock.fire()
	if l.summary.Text != "1 request shown, 1 in flight" {
		t.Fatalf("summary %q", l.summary.Text)
	}

	l.receiveEnvelope(connection(t, app.ConnectionStatus{}))
	clock.fire()
	if l.summary.Text != "Reconnecting to the proxy…" || cell(l.row(0), 4) != "unknown" {
		t.Fatalf("disconnected: summary %q, status %q", l.summary.Text, cell(l.row(0), 4))
	}
	l.setProxy(app.Stopped)
	if l.summary.Text != "The proxy is not running. Requests appear here while it runs." {
		t.Errorf("stopped: %q", l.summary.Text)
	}
	l.setProxy(app.Running)
	l.receiveEnvelope(connection(t, app.ConnectionStatus{Error: "the proxy refused the key"}))
	clock.fire()
	if l.summary.Text != "Reconnecting to the proxy… (the proxy refused the key)" || l.summary.Importance != widget.DangerImportance {
		t.Errorf("refused: %q", l.summary.Text)
	}

	l.receiveEnvelope(connection(t, app.ConnectionStatus{Connected: true}))
	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "r1", Time: t0.Add(time.Second), Model: "m", Stream: true, Status: 200, Latency: time.Second})
	clock.fire()
	if l.summary.Text != "1 request shown, 0 in flight" || cell(l.row(0), 4) != "200" {
		t.Errorf("reconnected: summary %q, status %q", l.summary.Text, cell(l.row(0), 4))
	}
}

func TestLiveDetail(t *testing.T) {
	l, clock, w := newTestLive(t)
	l.receive(activity.Request{Kind: activity.RequestStarted, ID: "msg_01", Time: t0, Client: "claude-code",
		API: "anthropic", Model: "claude-sonnet-4-5", Stream: true})
	l.receive(activity.Request{Kind: activity.RequestStarted, ID: "msg_02", Time: t0.Add(time.Second), Model: "gpt-4o", API: "openai-chat"})
	clock.fire()
	if l.detailBox.Visible() {
		t.Fatal("detail shown before a row was chosen")
	}
	l.table.Select(widget.TableCellID{Row: 1, Col: 2}) // msg_01: rows are newest first
	if !l.detailBox.Visible() || l.selected == nil || l.selected.ev.ID != "msg_01" {
		t.Fatalf("detail visible %v for %+v", l.detailBox.Visible(), l.selected)
	}
	if l.detailTitle.Text != "Request msg_01" {
		t.Errorf("title %q", l.detailTitle.Text)
	}

	// It follows the request from in flight to finished.
	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "msg_01", Time: t0.Add(4 * time.Second), Client: "claude-code",
		API: "anthropic", Model: "claude-sonnet-4-5", Account: "work", Stream: true, Status: 529, InputTokens: 1200,
		OutputTokens: 80, Latency: 4*time.Second + 250*time.Millisecond, StopReason: "end_turn", Error: "Kiro is overloaded"})
	clock.fire()
	want := [][2]string{
		{"Request ID", "msg_01"},
		{"State", "finished"},
		{"Started", "2026-03-01 12:00:00.000"},
		{"Last event", "2026-03-01 12:00:04.000"},
		{"Client", "claude-code"},
		{"API", "Anthropic Messages"},
		{"Model", "claude-sonnet-4-5"},
		{"Account", "work"},
		{"Streaming", "yes"},
		{"Status", "529"}, // net/http has no name for 529
		{"Input tokens", "1200"},
		{"Output tokens", "80"},
		{"Latency", "4.25s"},
		{"Stop reason", "end_turn"},
		{"Error", "Kiro is overloaded"},
	}
	got := detailFields(l.selected)
	if len(got) != len(want) {
		t.Fatalf("%d fields, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	w.Content().Refresh()
	markup := test.RenderToMarkup(w.Canvas())
	for _, s := range []string{"Request msg_01", "Anthropic Messages", "Kiro is overloaded", "end_turn", "Stop reason"} {
		if !strings.Contains(markup, s) {
			t.Errorf("detail panel lacks %q", s)
		}
	}

	// An in-flight request reads as such; closing hides the panel.
	l.table.Select(widget.TableCellID{Row: 0, Col: 0})
	if f := detailFields(l.selected); l.selected.ev.ID != "msg_02" || f[1][1] != "in flight" || f[9][1] != "—" || f[14][1] != "none" || f[5][1] != "OpenAI Chat Completions" {
		t.Errorf("in-flight detail %q", f)
	}
	l.closeDetail()
	if l.detailBox.Visible() || l.selected != nil {
		t.Error("detail still shown after close")
	}
}

// TestLiveFollowsTheStream runs the real path: proxy event → hub → /ws →
// StreamEvents → coalescing timer → table.
func TestLiveFollowsTheStream(t *testing.T) {
	test.NewTempApp(t)
	core := newTestCore(t)
	if err := core.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer core.Stop()
	l := newLive()
	l.setProxy(app.Running)
	fired := make(chan struct{}, 16)
	l.arm = func(f func()) { time.AfterFunc(time.Millisecond, func() { f(); fired <- struct{}{} }) }
	test.NewTempWindow(t, l.content)

	ctx, cancel := context.WithCancel(context.Background())
	events := app.StreamEvents(ctx, app.EventsOptions{BaseURL: func() string { return core.State().BaseURL }, Key: core.APIKey})
	tee := make(chan app.Envelope)
	connected := make(chan struct{})
	done, teeDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); l.follow(ctx, tee) }()
	go func() { // as follow reads, and tells the test once the stream is up
		defer close(teeDone)
		once := false
		for env := range events {
			select {
			case tee <- env:
			case <-ctx.Done():
				continue // drain until StreamEvents closes
			}
			if env.Type == app.EventConnection && !once && strings.Contains(string(env.Data.(json.RawMessage)), `"connected":true`) {
				once = true
				close(connected)
			}
		}
	}()
	defer func() { cancel(); <-done; <-teeDone }()

	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal(what)
		}
	}
	wait("the stream never connected", connected)
	wait("the connection never reached the view", fired)
	core.Hub().Publish(activity.Request{Kind: activity.RequestStarted, ID: "x", Model: "claude-opus-4-1", Time: time.Now()})
	wait("the event never reached the table", fired)
	var n int
	var model, summary string
	fyne.DoAndWait(func() { n, model, summary = len(l.rows), l.row(0).ev.Model, l.summary.Text })
	if n != 1 || model != "claude-opus-4-1" || summary != "1 request shown, 1 in flight" {
		t.Fatalf("%d rows, model %q, summary %q", n, model, summary)
	}
}

// TestLiveBatchesStates: states from App.Watch (one per finished request
// under load) join the event batches, the latest only, so the window
// redraws them with the table, at most once per batch.
func TestLiveBatchesStates(t *testing.T) {
	l, clock, _ := newTestLive(t)
	var shown []app.AppState
	l.onState = func(st app.AppState) { shown = append(shown, st) }
	for i := range 100 {
		l.queueState(app.AppState{Proxy: app.Running, RequestsToday: i + 1})
		l.receive(activity.Request{Kind: activity.RequestFinished, ID: fmt.Sprint("r", i), Time: t0, Status: 200})
	}
	if len(clock.fns) != 1 {
		t.Fatalf("a burst armed %d timers, want 1", len(clock.fns))
	}
	if len(shown) != 0 {
		t.Fatal("a state was shown before the timer fired")
	}
	clock.fire()
	if len(shown) != 1 || shown[0].RequestsToday != 100 {
		t.Fatalf("shown %+v, want the latest state once", shown)
	}
	if len(l.rows) != 100 || l.proxy != app.Running {
		t.Fatalf("%d rows, proxy %v", len(l.rows), l.proxy)
	}

	// A state alone is a batch too, and nothing is armed after it.
	l.queueState(app.AppState{Proxy: app.Stopped, RequestsToday: 100})
	clock.fire()
	if len(shown) != 2 || shown[1].Proxy != app.Stopped || l.proxy != app.Stopped {
		t.Fatalf("shown %+v, proxy %v", shown, l.proxy)
	}
	clock.fire()
	if len(shown) != 2 || len(clock.fns) != 0 {
		t.Fatalf("an empty batch showed a state (%d) or armed a timer (%d)", len(shown), len(clock.fns))
	}
}
