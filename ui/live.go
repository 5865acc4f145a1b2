package ui

import (
	"context"
	"fmt"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/activity"
)

// Live view limits.
const (
	maxLiveRows   = 500                    // oldest rows beyond this are forgotten
	coalesceDelay = 100 * time.Millisecond // events are applied at most this often
)

// live is the window's request table, fed by the hub. Events are queued
// and applied in one batch at most every coalesceDelay, by a timer armed on
// the first event of a burst: a 256-stream load redraws the table ten
// times a second, and nothing runs when nothing happens.
type live struct {
	table   *widget.Table
	summary *widget.Label
	content fyne.CanvasObject

	// arm schedules f after coalesceDelay; tests replace it.
	arm func(f func())
	// alive reports whether the UI still runs; a batch due after it has
	// stopped is dropped.
	alive func() bool

	mu      sync.Mutex
	pending []activity.Request
	armed   bool

	// UI goroutine only.
	rows []*liveRow // newest first
	byID map[string]*liveRow
}

type liveRow struct {
	started time.Time
	ev      activity.Request // the latest event of the request
}

var liveColumns = []struct {
	title string
	width float32
}{
	{"Time", 80}, {"Client", 110}, {"Model", 190}, {"Account", 90},
	{"Status", 80}, {"In", 70}, {"Out", 70}, {"Latency", 80},
}

func newLive() *live {
	l := &live{byID: map[string]*liveRow{}}
	l.arm = func(f func()) { time.AfterFunc(coalesceDelay, f) }
	l.alive = func() bool { return true }
	l.summary = &widget.Label{Text: "No requests yet. They appear here as clients use the proxy.", Importance: widget.LowImportance}
	l.table = widget.NewTableWithHeaders(
		func() (int, int) { return len(l.rows), len(liveColumns) },
		func() fyne.CanvasObject { return &widget.Label{Truncation: fyne.TextTruncateEllipsis} },
		func(id widget.TableCellID, o fyne.CanvasObject) {
			if id.Row < 0 || id.Row >= len(l.rows) {
				return
			}
			o.(*widget.Label).SetText(cell(l.rows[id.Row], id.Col))
		},
	)
	l.table.ShowHeaderColumn = false
	l.table.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	l.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(liveColumns) {
			o.(*widget.Label).SetText(liveColumns[id.Col].title)
		}
	}
	for i, c := range liveColumns {
		l.table.SetColumnWidth(i, c.width)
	}
	l.content = container.NewBorder(container.NewPadded(l.summary), nil, nil, nil, l.table)
	return l
}

// cell is one table cell's text.
func cell(r *liveRow, col int) string {
	ev := r.ev
	inFlight := ev.Kind != activity.RequestFinished
	switch col {
	case 0:
		return r.started.Local().Format(time.TimeOnly)
	case 1:
		if ev.Client == "" {
			return "—"
		}
		return ev.Client
	case 2:
		return ev.Model
	case 3:
		if ev.Account == "" {
			return "—"
		}
		return ev.Account
	case 4:
		switch {
		case inFlight && ev.Stream:
			return "streaming"
		case inFlight:
			return "waiting"
		case ev.Error != "" && ev.Status == 0:
			return "failed"
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

func tokens(n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

// receive queues an event; safe from any goroutine, never blocks for long.
func (l *live) receive(ev activity.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, ev)
	if !l.armed {
		l.armed = true
		l.arm(l.flush)
	}
}

// flush hands the queued events to the UI goroutine.
func (l *live) flush() {
	l.mu.Lock()
	batch := l.pending
	l.pending, l.armed = nil, false
	l.mu.Unlock()
	if len(batch) > 0 {
		fyne.Do(func() {
			if l.alive() {
				l.apply(batch)
			}
		})
	}
}

// apply merges a batch into the rows and redraws once; UI goroutine only.
func (l *live) apply(batch []activity.Request) {
	for _, ev := range batch {
		if r, ok := l.byID[ev.ID]; ok {
			if r.ev.Kind != activity.RequestFinished { // a late progress never undoes a finish
				r.ev = ev
			}
			continue
		}
		r := &liveRow{started: ev.Time, ev: ev}
		if ev.Kind != activity.RequestStarted && ev.Latency > 0 {
			r.started = ev.Time.Add(-ev.Latency)
		}
		l.byID[ev.ID] = r
		l.rows = append(l.rows, nil)
		copy(l.rows[1:], l.rows)
		l.rows[0] = r
	}
	for len(l.rows) > maxLiveRows {
		old := l.rows[len(l.rows)-1]
		delete(l.byID, old.ev.ID)
		l.rows = l.rows[:len(l.rows)-1]
	}
	inFlight := 0
	for _, r := range l.rows {
		if r.ev.Kind != activity.RequestFinished {
			inFlight++
		}
	}
	l.summary.SetText(fmt.Sprintf("%d requests shown, %d in flight", len(l.rows), inFlight))
	l.table.Refresh()
}

// follow feeds the view from the hub until ctx ends. A subscription the
// hub drops (the UI fell far behind) is renewed.
func (l *live) follow(ctx context.Context, hub *app.Hub) {
	for ctx.Err() == nil {
		events, cancel := hub.Subscribe()
		got := false
		func() {
			defer cancel()
			for {
				select {
				case <-ctx.Done():
					return
				case env, ok := <-events:
					if !ok {
						return
					}
					got = true
					if ev, ok := env.Data.(activity.Request); ok {
						l.receive(ev)
					}
				}
			}
		}()
		if !got { // the hub is closed, or drops us at once: do not spin
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
