package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kirotray/kirotray/proxy/activity"
)

func dialHub(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), hdr)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	return c
}

// eventually waits for cond, for at most 10 s (a bound against hangs, not a timing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHubDeliversEvents(t *testing.T) {
	h := NewHub(nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()
	c := dialHub(t, ts.URL, nil)
	defer c.Close()
	eventually(t, "the subscriber", func() bool { return h.Subscribers() == 1 })

	h.Publish(activity.Request{Kind: activity.RequestFinished, ID: "msg_1", Model: "claude-sonnet-4-5", Status: 200, OutputTokens: 12})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Type string
		Data activity.Request
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "request" || env.Data.ID != "msg_1" || env.Data.OutputTokens != 12 || env.Data.Kind != activity.RequestFinished {
		t.Fatalf("got %s", msg)
	}
}

func TestHubDropsSlowSubscribersWithoutBlocking(t *testing.T) {
	h := NewHub(nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()
	slow := dialHub(t, ts.URL, nil) // never reads
	defer slow.Close()
	fast := dialHub(t, ts.URL, nil)
	defer fast.Close()
	eventually(t, "two subscribers", func() bool { return h.Subscribers() == 2 })

	received := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, _, err := fast.ReadMessage(); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	// Far more than the slow subscriber's buffer and its socket can hold.
	// Publish must return every time: it never waits for a subscriber.
	big := strings.Repeat("x", 2000)
	for i := range 20000 {
		h.Publish(activity.Request{Kind: activity.RequestProgress, ID: "msg_" + big, OutputTokens: i})
		if i%1000 == 999 {
			time.Sleep(time.Millisecond) // let the fast reader keep up
		}
	}
	eventually(t, "the slow subscriber to be dropped", func() bool { return h.Subscribers() <= 1 })
	h.Close()
	if n := <-received; n == 0 {
		t.Fatal("the fast subscriber got nothing")
	}
}

func TestHubForgetsVanishedSubscribers(t *testing.T) {
	h := NewHub(nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()
	c := dialHub(t, ts.URL, nil)
	eventually(t, "the subscriber", func() bool { return h.Subscribers() == 1 })
	c.UnderlyingConn().Close() // gone without a close frame
	eventually(t, "the subscriber to be forgotten", func() bool { return h.Subscribers() == 0 })
	h.Publish(activity.Request{ID: "after"}) // nobody left: must not block or panic
}

func TestHubRefusesForeignOrigins(t *testing.T) {
	h := NewHub(nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, resp %v", err, resp)
	}
	c := dialHub(t, ts.URL, http.Header{"Origin": {"http://127.0.0.1:8317"}})
	c.Close()
}
