package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/activity"
)

// Live view limits.
const (
	maxLiveRows   = 500                    // oldest rows beyond this are forgotten
	coalesceDelay = 100 * time.Millisecond // events are applied at most this often
)

// live is the window's request table, fed by the proxy's event stream
// (app.StreamEvents, the /ws client). Events are queued and applied in one
// batch at most every coalesceDelay, by a timer armed on the first event of
// a burst: a 256-stream load redraws the table ten times a second, and
// nothing runs when nothing happens. The proxy's state (App.Watch, which
// under load changes with every finished request) takes the same batches,
// latest only, so the window repaints once per batch for both. Selecting a
// row shows that request's metadata below the table (events carry no
// secrets and no content).
type live struct {
	table   *widget.Table
	summary *widget.Label
	content fyne.CanvasObject

	detailTitle *widget.Label
	detailForm  *fyne.Container // name/value pairs in two columns
	detailBox   *fyne.Container // title, close button and form; hidden until a row is chosen

	// arm schedules f after coalesceDelay; tests replace it.
	arm func(f func())
	// alive reports whether the UI still runs; a batch due after it has
	// stopped is dropped.
	alive func() bool
	// onState shows a state in the rest of the window and the tray (Run
	// sets it); UI goroutine. Nil: the Live tab only.
	onState func(app.AppState)

	mu           sync.Mutex
	pending      []liveItem
	pendingState *app.AppState // the latest state not yet shown
	armed        bool

	// UI goroutine only.
	rows     []*liveRow // oldest first; the table shows them newest first
	byID     map[string]*liveRow
	conn     connState
	connErr  string         // why the proxy refused the connection, if it did
	proxy    app.ProxyState // from App.Watch: tells "stopped" from "reconnecting"
	selected *liveRow       // the request whose details show; nil: none
}

// liveItem is one queued change: a request event, or (conn set) a change
// of the event stream's connection.
type liveItem struct {
	req  activity.Request
	conn *app.ConnectionStatus
}

type connState int

const (
	connUnknown connState = iota // no word from the stream yet
	connUp
	connDown
)

type liveRow struct {
	started time.Time
	ev      activity.Request // the latest event of the request
	// lost is set when the stream dropped while the request was in flight:
	// its end may never be reported.
	lost bool
}

var liveColumnWidths = []float32{80, 110, 190, 90, 80, 70, 70, 80}

// liveColumnTitle is column col's header.
func liveColumnTitle(col int) string {
	switch col {
	case 0:
		return tr("Time")
	case 1:
		return tr("Client")
	case 2:
		return tr("Model")
	case 3:
		return tr("Account")
	case 4:
		return tr("Status")
	case 5:
		return tr("In")
	case 6:
		return tr("Out")
	case 7:
		return tr("Latency")
	}
	return ""
}

func newLive() *live {
	l := &live{byID: map[string]*liveRow{}}
	l.arm = func(f func()) { time.AfterFunc(coalesceDelay, f) }
	l.alive = func() bool { return true }
	l.summary = &widget.Label{Importance: widget.LowImportance, Truncation: fyne.TextTruncateEllipsis}
	l.table = widget.NewTableWithHeaders(
		func() (int, int) { return len(l.rows), len(liveColumnWidths) },
		func() fyne.CanvasObject { return &widget.Label{Truncation: fyne.TextTruncateEllipsis} },
		l.updateCell,
	)
	l.table.ShowHeaderColumn = false
	l.table.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	l.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		o.(*widget.Label).SetText(liveColumnTitle(id.Col))
	}
	l.table.OnSelected = l.onSelected
	for i, w := range liveColumnWidths {
		l.table.SetColumnWidth(i, w)
	}

	l.detailTitle = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.detailForm = container.NewGridWithColumns(2)
	closeDetail := &widget.Button{Icon: theme.CancelIcon(), Importance: widget.LowImportance, OnTapped: l.closeDetail}
	l.detailBox = container.NewBorder(container.NewBorder(nil, nil, nil, closeDetail, l.detailTitle), nil, nil, nil,
		container.NewVScroll(l.detailForm))
	l.detailBox.Hide()
	split := container.NewVSplit(l.table, l.detailBox)
	split.Offset = 0.55
	l.content = container.NewBorder(container.NewPadded(l.summary), nil, nil, nil, split)
	l.showSummary()
	return l
}

// row is the i-th row as the table shows it, newest first.
func (l *live) row(i int) *liveRow { return l.rows[len(l.rows)-1-i] }

func (l *live) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	if id.Row < 0 || id.Row >= len(l.rows) {
		return
	}
	r := l.row(id.Row)
	lb := o.(*widget.Label)
	lb.TextStyle.Bold = r == l.selected
	lb.Importance = widget.MediumImportance
	if id.Col == 4 && (r.ev.Status >= 400 || r.ev.Error != "") {
		lb.Importance = widget.DangerImportance
	}
	lb.SetText(cell(r, id.Col))
}

// cell is one table cell's text.
func cell(r *liveRow, col int) string {
	ev := r.ev
	switch col {
	case 0:
		return r.started.Local().Format(time.TimeOnly)
	case 1:
		return orDash(ev.Client)
	case 2:
		return orDash(ev.Model)
	case 3:
		return orDash(ev.Account)
	case 4:
		switch {
		case r.inFlight() && r.lost:
			return tr("unknown")
		case r.inFlight() && ev.Stream:
			return tr("streaming")
		case r.inFlight():
			return tr("waiting")
		case ev.Status == 0 && ev.Error != "":
			return tr("failed")
		case ev.Status == 0:
			return "—"
		}
		return fmt.Sprint(ev.Status)
	case 5:
		return tokens(ev.InputTokens)
	case 6:
		return tokens(ev.OutputTokens)
	case 7:
		if ev.Latency == 0 {
			return "—"
		}
		return ev.Latency.Round(time.Millisecond).String()
	}
	return ""
}

func (r *liveRow) inFlight() bool { return r.ev.Kind != activity.RequestFinished }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func tokens(n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

// detailFields is the metadata of one request, as name/value pairs, for
// the detail panel: every field of its latest event. Events hold no
// secrets (account names, never tokens; no message content).
func detailFields(r *liveRow) [][2]string {
	ev := r.ev
	state := tr("finished")
	switch {
	case r.inFlight() && r.lost:
		state = tr("unknown: the connection to the proxy dropped while it ran")
	case r.inFlight():
		state = tr("in flight")
	}
	status := "—"
	if ev.Status != 0 {
		status = strings.TrimSpace(fmt.Sprintf("%d %s", ev.Status, http.StatusText(ev.Status)))
	} else if !r.inFlight() && ev.Error != "" {
		status = tr("failed")
	}
	stream := tr("no")
	if ev.Stream {
		stream = tr("yes")
	}
	latency := "—"
	if ev.Latency != 0 {
		latency = ev.Latency.Round(time.Millisecond).String()
	}
	errText := tr("none")
	if ev.Error != "" {
		errText = ev.Error
	}
	return [][2]string{
		{tr("Request ID"), orDash(ev.ID)},
		{tr("State"), state},
		{tr("Started"), r.started.Local().Format("2006-01-02 15:04:05.000")},
		{tr("Last event"), ev.Time.Local().Format("2006-01-02 15:04:05.000")},
		{tr("Client"), orDash(ev.Client)},
		{tr("API"), apiName(ev.API)},
		{tr("Model"), orDash(ev.Model)},
		{tr("Account"), orDash(ev.Account)},
		{tr("Streaming"), stream},
		{tr("Status"), status},
		{tr("Input tokens"), tokens(ev.InputTokens)},
		{tr("Output tokens"), tokens(ev.OutputTokens)},
		{tr("Latency"), latency},
		{tr("Stop reason"), orDash(ev.StopReason)},
		{tr("Error"), errText},
	}
}

// apiName names the API a client called.
func apiName(api string) string {
	switch api {
	case "anthropic":
		return "Anthropic Messages"
	case "openai-chat":
		return "OpenAI Chat Completions"
	case "openai-responses":
		return "OpenAI Responses"
	}
	return orDash(api)
}

func (l *live) onSelected(id widget.TableCellID) {
	if id.Row >= 0 && id.Row < len(l.rows) {
		l.selected = l.row(id.Row)
		l.showDetail()
	}
	// The mark is the bold row, which follows the request as rows move;
	// the table's own selection would stay on the row index.
	l.table.UnselectAll()
	l.table.Refresh()
}

func (l *live) closeDetail() {
	l.selected = nil
	l.detailBox.Hide()
	l.table.Refresh()
}

// showDetail fills the detail panel from the selected request.
func (l *live) showDetail() {
	r := l.selected
	if r == nil {
		return
	}
	l.detailTitle.SetText(fmt.Sprintf(tr("Request %s"), orDash(r.ev.ID)))
	fields := detailFields(r)
	half := (len(fields) + 1) / 2
	var cols []fyne.CanvasObject
	for _, part := range [][][2]string{fields[:half], fields[half:]} {
		var objs []fyne.CanvasObject
		for _, f := range part {
			objs = append(objs, fieldName(f[0]), &widget.Label{Text: f[1], Selectable: true, Wrapping: fyne.TextWrapWord})
		}
		cols = append(cols, container.New(layout.NewFormLayout(), objs...))
	}
	l.detailForm.Objects = cols
	l.detailForm.Refresh()
	l.detailBox.Show()
}

// relabel redraws everything in the language tr speaks now; UI goroutine.
func (l *live) relabel() {
	l.showSummary()
	l.showDetail()
	l.table.Refresh()
}

// setProxy tells the view the proxy's state (from App.Watch); UI goroutine.
func (l *live) setProxy(p app.ProxyState) {
	if l.proxy != p {
		l.proxy = p
		l.showSummary()
	}
}

// receive queues an event; safe from any goroutine, never blocks for long.
func (l *live) receive(ev activity.Request) { l.queue(liveItem{req: ev}) }

// receiveEnvelope queues what the event stream says that the view shows:
// requests and connection changes. Safe from any goroutine.
func (l *live) receiveEnvelope(env app.Envelope) {
	switch env.Type {
	case "request":
		if ev, ok := env.Data.(activity.Request); ok {
			l.receive(ev)
		}
	case app.EventConnection:
		raw, _ := env.Data.(json.RawMessage)
		var st app.ConnectionStatus
		if json.Unmarshal(raw, &st) == nil {
			l.queue(liveItem{conn: &st})
		}
	}
}

func (l *live) queue(it liveItem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, it)
	l.armLocked()
}

// queueState queues a state (from App.Watch) for the next batch, where it
// replaces any state queued before; safe from any goroutine, never blocks.
func (l *live) queueState(st app.AppState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pendingState = &st
	l.armLocked()
}

func (l *live) armLocked() {
	if !l.armed {
		l.armed = true
		l.arm(l.flush)
	}
}

// flush hands the queued events and state to the UI goroutine.
func (l *live) flush() {
	l.mu.Lock()
	batch, st := l.pending, l.pendingState
	l.pending, l.pendingState, l.armed = nil, nil, false
	l.mu.Unlock()
	if len(batch) > 0 || st != nil {
		fyne.Do(func() {
			if !l.alive() {
				return
			}
			if st != nil {
				l.showState(*st)
			}
			if len(batch) > 0 {
				l.apply(batch)
			}
		})
	}
}

// showState shows a state from App.Watch; UI goroutine only.
func (l *live) showState(st app.AppState) {
	if l.onState != nil {
		l.onState(st)
	}
	l.setProxy(st.Proxy)
}

// apply merges a batch into the rows and redraws once; UI goroutine only.
func (l *live) apply(batch []liveItem) {
	detail := false
	for _, it := range batch {
		if it.conn != nil {
			l.setConn(*it.conn)
			continue
		}
		ev := it.req
		if r, ok := l.byID[ev.ID]; ok {
			if r.inFlight() { // a late progress never undoes a finish
				r.ev = ev
				r.lost = false
				detail = detail || r == l.selected
			}
			continue
		}
		r := &liveRow{started: ev.Time, ev: ev}
		if ev.Kind != activity.RequestStarted && ev.Latency > 0 {
			r.started = ev.Time.Add(-ev.Latency)
		}
		l.byID[ev.ID] = r
		l.rows = append(l.rows, r)
	}
	if n := len(l.rows) - maxLiveRows; n > 0 {
		for _, old := range l.rows[:n] {
			delete(l.byID, old.ev.ID)
		}
		l.rows = slices.Delete(l.rows, 0, n)
	}
	if detail {
		l.showDetail()
	}
	l.showSummary()
	l.table.Refresh()
}

// setConn records a change of the event stream's connection.
func (l *live) setConn(st app.ConnectionStatus) {
	if st.Connected {
		l.conn, l.connErr = connUp, ""
		return
	}
	if l.conn == connUp { // events may be missed until it is back
		for _, r := range l.rows {
			if r.inFlight() {
				r.lost = true
			}
		}
	}
	l.conn, l.connErr = connDown, st.Error
}

// showSummary writes the line above the table.
func (l *live) showSummary() {
	switch {
	case l.conn == connDown && l.connErr != "":
		l.setSummary(widget.DangerImportance, fmt.Sprintf(tr("Reconnecting to the proxy… (%s)"), connError(l.connErr)))
		return
	case l.conn == connDown && (l.proxy == app.Stopped || l.proxy == app.Failed):
		l.setSummary(widget.LowImportance, tr("The proxy is not running. Requests appear here while it runs."))
		return
	case l.conn == connDown:
		l.setSummary(widget.WarningImportance, tr("Reconnecting to the proxy…"))
		return
	case len(l.rows) == 0:
		l.setSummary(widget.LowImportance, tr("No requests yet. They appear here as clients use the proxy."))
		return
	}
	inFlight := 0
	for _, r := range l.rows {
		if r.inFlight() && !r.lost {
			inFlight++
		}
	}
	if len(l.rows) == 1 {
		l.setSummary(widget.LowImportance, fmt.Sprintf(tr("1 request shown, %d in flight"), inFlight))
		return
	}
	l.setSummary(widget.LowImportance, fmt.Sprintf(tr("%d requests shown, %d in flight"), len(l.rows), inFlight))
}

// setSummary refreshes the summary line only if it changes.
func (l *live) setSummary(imp widget.Importance, text string) {
	if l.summary.Text == text && l.summary.Importance == imp {
		return
	}
	l.summary.Importance = imp
	l.summary.SetText(text)
}

// connError words the stream client's known errors in the window's language.
func connError(s string) string {
	switch s {
	case "the proxy refused the key":
		return tr("the proxy refused the key")
	case "the API key could not be read":
		return tr("the API key could not be read")
	}
	return s
}

// follow feeds the view from the event stream until it closes (its
// context ended).
func (l *live) follow(ctx context.Context, events <-chan app.Envelope) {
	for {
		select {
		case <-ctx.Done():
			return
		case env, ok := <-events:
			if !ok {
				return
			}
			l.receiveEnvelope(env)
		}
	}
}
