package app

import (
	"encoding/json"
	"sync"

	"github.com/kirotray/kirotray/proxy/activity"
)

// Subscribe registers an in-process subscriber, such as the tray window,
// and returns its event channel and a cancel func. A "request" envelope
// carries an activity.Request in Data; other types carry json.RawMessage.
//
// The subscriber is treated like a websocket one: if it falls more than
// the hub's buffer behind it is dropped and the channel closed, and it may
// subscribe again. The channel is also closed by cancel and by Close.
// Read the channel until it closes or call cancel: a reader that stops
// reading without cancelling leaks a goroutine. cancel is idempotent.
func (h *Hub) Subscribe() (<-chan Envelope, func()) {
	out := make(chan Envelope)
	c := &subscriber{send: make(chan []byte, subscriberBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(out)
		return out, func() {}
	}
	h.clients[c] = struct{}{}
	h.mu.Unlock()

	quit := make(chan struct{})
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.clients, c)
			h.mu.Unlock()
			c.stop()
			close(quit)
		})
	}
	go func() {
		defer close(out)
		// The hub hands every subscriber the JSON it writes to /ws; decoding
		// it again costs microseconds per event and keeps hub.go unchanged.
		for msg := range c.send {
			env, ok := decodeEnvelope(msg)
			if !ok {
				continue
			}
			select {
			case out <- env:
			case <-quit:
				return
			}
		}
	}()
	return out, cancel
}

func decodeEnvelope(msg []byte) (Envelope, bool) {
	var raw struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &raw) != nil {
		return Envelope{}, false
	}
	if raw.Type == "request" {
		var ev activity.Request
		if json.Unmarshal(raw.Data, &ev) != nil {
			return Envelope{}, false
		}
		return Envelope{Type: raw.Type, Data: ev}, true
	}
	return Envelope{Type: raw.Type, Data: raw.Data}, true
}
