package app

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kirotray/kirotray/proxy/activity"
)

// Hub fans activity events out to websocket subscribers (the tray window,
// other local tools). It implements activity.Sink: Publish never blocks the
// proxy. A subscriber that falls behind by more than its buffer is dropped
// and may reconnect; the others are unaffected.
//
// Wire format: one JSON object per websocket text message,
// {"type":"request","data":<activity.Request>}; see docs/events.md for the
// schema and the other types.
type Hub struct {
	log *slog.Logger

	mu      sync.Mutex
	clients map[*subscriber]struct{}
	closed  bool
	// welcome returns what a new websocket subscriber receives first (the
	// current state and accounts), so it never waits for a change to
	// learn them; nil sends nothing.
	welcome func() []Envelope
}

// SetWelcome sets the snapshot each new websocket subscriber gets first.
func (h *Hub) SetWelcome(f func() []Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.welcome = f
}

// Subscriber limits and timings, shaped like gorilla/websocket's chat example.
const (
	subscriberBuffer = 256              // messages queued per subscriber before it is dropped
	writeWait        = 10 * time.Second // time allowed to write one message
	pongWait         = 60 * time.Second // time allowed between pongs
	pingPeriod       = pongWait * 9 / 10
	maxInbound       = 4 << 10 // subscribers only answer pings and may close
)

type subscriber struct {
	conn *websocket.Conn
	send chan []byte
	once sync.Once
}

// NewHub returns an empty hub; log may be nil.
func NewHub(log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{log: log.With("component", "hub"), clients: map[*subscriber]struct{}{}}
}

// Envelope is one message on /ws.
type Envelope struct {
	Type string `json:"type"` // "request", "state", "accounts" (docs/events.md)
	Data any    `json:"data"`
}

// Publish implements activity.Sink.
func (h *Hub) Publish(ev activity.Request) {
	h.broadcast(Envelope{Type: "request", Data: ev})
}

// Broadcast sends an envelope of any type to every subscriber: the core
// publishes "state" and "accounts" through it (docs/events.md). data is
// encoded with encoding/json once, and only when somebody listens, so an
// idle hub costs no more than for Publish. Requests go through Publish:
// subscribers decode a "request" envelope's data as an activity.Request.
func (h *Hub) Broadcast(typ string, data any) {
	h.broadcast(Envelope{Type: typ, Data: data})
}

func (h *Hub) broadcast(env Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) == 0 {
		return // nobody listens: not even the JSON encoding is paid for
	}
	msg, err := json.Marshal(env)
	if err != nil {
		h.log.Error("encode event", "err", err)
		return
	}
	for c := range h.clients {
		select {
		case c.send <- msg:
		default: // too slow: drop it rather than block the proxy or grow without bound
			delete(h.clients, c)
			c.stop()
			h.log.Info("dropped a subscriber that fell behind")
		}
	}
}

// Subscribers returns how many subscribers are connected.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close disconnects every subscriber and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		c.stop()
	}
}

func (c *subscriber) stop() { c.once.Do(func() { close(c.send) }) }

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 16 << 10,
	// Browsers do not apply CORS to websockets: only pages served from a
	// loopback origin (or clients that send no Origin) may subscribe.
	CheckOrigin: func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		if o == "" {
			return true
		}
		u, err := url.Parse(o)
		if err != nil {
			return false
		}
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	},
}

// ServeHTTP upgrades GET /ws to a websocket and streams events until the
// subscriber leaves or falls behind. Authentication (the API key) and the
// Host check are the proxy middleware's job.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &subscriber{conn: conn, send: make(chan []byte, subscriberBuffer)}
	h.mu.Lock()
	welcome := h.welcome
	h.mu.Unlock()
	var first [][]byte
	if welcome != nil {
		for _, env := range welcome() { // outside h.mu: it may read the account store
			if msg, err := json.Marshal(env); err == nil {
				first = append(first, msg)
			}
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = conn.Close()
		return
	}
	for _, msg := range first { // queued before any broadcast can reach c
		c.send <- msg
	}
	h.clients[c] = struct{}{}
	h.mu.Unlock()

	done := make(chan struct{})
	go func() { // reader: handles pongs and close frames, notices a vanished peer
		defer close(done)
		conn.SetReadLimit(maxInbound)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	h.writeLoop(c, done)
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.stop()
	_ = conn.Close()
	<-done
}

// writeLoop owns the connection's writes: events, pings and deadlines.
func (h *Hub) writeLoop(c *subscriber, readerDone <-chan struct{}) {
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	for {
		select {
		case msg, ok := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "falling behind or shutting down"))
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ticker.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-readerDone:
			return
		}
	}
}
