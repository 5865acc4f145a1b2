package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// overview is the window's first tab: the proxy's state with start/stop,
// the base URL and key to copy, and today's numbers.
type overview struct {
	c *controller

	icon      *canvas.Image
	status    *widget.Label
	detail    *widget.Label
	toggle    *widget.Button
	baseURL   *widget.Label
	copyURL   *widget.Button
	key       *widget.Label
	reveal    *widget.Button
	copyKey   *widget.Button
	copySetup *widget.Button
	requests  *widget.Label
	lastError *widget.Label
	content   fyne.CanvasObject

	st       app.AppState
	revealed string // the key while shown; empty when hidden
}

const maskedKey = "••••••••••••••••••••••••"

func newOverview(c *controller) *overview {
	o := &overview{c: c}
	o.icon = canvas.NewImageFromResource(trayIcon(app.Stopped, isDark()))
	o.icon.FillMode = canvas.ImageFillContain
	o.icon.SetMinSize(fyne.NewSquareSize(48))
	o.status = &widget.Label{TextStyle: fyne.TextStyle{Bold: true}, SizeName: theme.SizeNameSubHeadingText}
	o.detail = &widget.Label{Truncation: fyne.TextTruncateEllipsis, Importance: widget.LowImportance}
	o.toggle = &widget.Button{Text: "Start proxy", Icon: theme.MediaPlayIcon(), Importance: widget.HighImportance, OnTapped: o.onToggle}
	o.baseURL = &widget.Label{Selectable: true, TextStyle: fyne.TextStyle{Monospace: true}}
	o.copyURL = &widget.Button{Text: "Copy", Icon: theme.ContentCopyIcon(), OnTapped: o.onCopyURL}
	o.key = &widget.Label{Text: maskedKey, TextStyle: fyne.TextStyle{Monospace: true}, Selectable: true}
	o.reveal = &widget.Button{Text: "Show", Icon: theme.VisibilityIcon(), OnTapped: o.onReveal}
	o.copyKey = &widget.Button{Text: "Copy", Icon: theme.ContentCopyIcon(), OnTapped: o.onCopyKey}
	o.copySetup = &widget.Button{Text: "Copy Claude Code setup", Icon: theme.ContentCopyIcon(), OnTapped: o.onCopySetup}
	o.requests = widget.NewLabel("0")
	o.lastError = &widget.Label{Text: "none", Wrapping: fyne.TextWrapWord}

	header := container.NewBorder(nil, nil, o.icon, container.NewCenter(o.toggle), container.NewVBox(o.status, o.detail))
	form := container.New(layout.NewFormLayout(),
		fieldName("Base URL"), container.NewHBox(o.baseURL, o.copyURL),
		fieldName("API key"), container.NewHBox(o.key, o.reveal, o.copyKey),
		fieldName("Requests today"), o.requests,
		fieldName("Last error"), o.lastError,
	)
	setup := container.NewVBox(
		widget.NewLabelWithStyle("Use it with Claude Code", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		&widget.Label{Text: "Copy the two exports, paste them into the shell where you run claude, then start claude there.", Wrapping: fyne.TextWrapWord},
		container.NewHBox(o.copySetup),
	)
	o.content = container.NewPadded(container.NewVBox(header, widget.NewSeparator(), form, widget.NewSeparator(), setup))
	o.apply(app.AppState{})
	return o
}

func fieldName(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
}

// apply shows st; call it on the UI goroutine.
func (o *overview) apply(st app.AppState) {
	o.st = st
	o.icon.Resource = trayIcon(st.Proxy, isDark())
	o.icon.Refresh()
	if st.Proxy == app.Running {
		o.status.SetText("Proxy running on " + hostPort(st.BaseURL))
	} else {
		o.status.SetText("Proxy " + st.Proxy.String())
	}
	o.detail.SetText(detailLine(st))
	switch st.Proxy {
	case app.Running:
		o.toggle.SetText("Stop proxy")
		o.toggle.SetIcon(theme.MediaStopIcon())
		o.toggle.Importance = widget.MediumImportance
		o.toggle.Enable()
	case app.Starting, app.Stopping:
		o.toggle.Disable()
	default:
		o.toggle.SetText("Start proxy")
		o.toggle.SetIcon(theme.MediaPlayIcon())
		o.toggle.Importance = widget.HighImportance
		o.toggle.Enable()
	}
	o.toggle.Refresh()
	o.baseURL.SetText(st.BaseURL)
	o.requests.SetText(fmt.Sprint(st.RequestsToday))
	if st.LastError == "" {
		o.lastError.SetText("none")
	} else {
		o.lastError.SetText(st.LastError)
	}
}

// detailLine explains the state in a sentence.
func detailLine(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		if st.Upstream == "demo" {
			return "Demo upstream: replies are simulated, no Kiro account is used."
		}
		return "Forwarding to your Kiro accounts."
	case app.Failed:
		return st.Message
	case app.Starting:
		return "Opening " + hostPort(st.BaseURL) + "…"
	case app.Stopping:
		return "Letting requests in flight finish…"
	}
	return "Start the proxy to serve Claude Code on " + hostPort(st.BaseURL) + "."
}

func (o *overview) onToggle() {
	if o.st.Proxy == app.Running {
		o.c.stop()
	} else {
		o.c.start()
	}
}

func (o *overview) onCopyURL() { o.c.copyURL() }

func (o *overview) onCopySetup() { o.c.copySetup() }

func (o *overview) onCopyKey() {
	o.c.withKey(func(k string) { o.c.clip(k) })
}

func (o *overview) onReveal() {
	if o.revealed != "" {
		o.revealed = ""
		o.key.SetText(maskedKey)
		o.reveal.SetText("Show")
		o.reveal.SetIcon(theme.VisibilityIcon())
		return
	}
	o.c.withKey(func(k string) {
		o.revealed = k
		o.key.SetText(k)
		o.reveal.SetText("Hide")
		o.reveal.SetIcon(theme.VisibilityOffIcon())
	})
}
