package kiro

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/conv"
)

// longSession is a Claude-Code-like conversation: a first prompt with its
// system reminder, then rounds of assistant tool call / user tool result of
// about size bytes each, and a last question.
func longSession(rounds, size int) *conv.Request {
	req := &conv.Request{Model: "claude-sonnet-4-5", System: "You are a coding agent.", Tools: []conv.Tool{bashTool},
		Messages: []conv.Message{user(text("<system-reminder>context</system-reminder>"), text("fix the build"))}}
	for i := range rounds {
		id := fmt.Sprintf("toolu_%02d", i)
		req.Messages = append(req.Messages,
			asst(text(fmt.Sprintf("step %d", i)), use(id, "Bash")),
			user(result(id, strings.Repeat(fmt.Sprintf("line %d of output\n", i), size/18))))
	}
	req.Messages = append(req.Messages, user(text("and now?")))
	return req
}

func TestTrimPlans(t *testing.T) {
	msgs := []conv.Message{
		user(text("prompt")),                      // 0: head
		user(text("<system-reminder>agents")),     // 1: head (Claude Code's system message)
		asst(text("a"), use("t1", "Bash")),        // 2
		user(result("t1", "r1")),                  // 3: never first
		asst(text("b"), use("t2", "Bash")),        // 4
		user(result("t2", "r2"), text("and now")), // 5: never first
		asst(text("done")),                        // 6
		user(text("next")),                        // 7
	}
	got := trimPlans(msgs)
	want := []trimPlan{{2, 4}, {2, 6}, {2, 7}, {0, 7}}
	if !slices.Equal(got, want) {
		t.Errorf("plans %v, want %v", got, want)
	}
	if plans := trimPlans([]conv.Message{user(text("only"))}); plans != nil {
		t.Errorf("one message: %v", plans)
	}
}

func TestTrimToFitKeepsPairsAndHead(t *testing.T) {
	req := longSession(30, 3000) // ~100 KB
	opt := BuildOptions{ConversationID: "c", ContinuationID: "k"}
	full, err := BuildRequest(req, opt)
	if err != nil {
		t.Fatal(err)
	}
	limit := full.InputBytes() / 3
	trimmed, dropped, ok := trimToFit(req, opt, limit, 1)
	if !ok {
		t.Fatal("no trim fits")
	}
	p, b := mustBuild(t, trimmed, opt)
	if p.InputBytes() > limit {
		t.Errorf("trimmed body %d bytes, limit %d", p.InputBytes(), limit)
	}
	if dropped <= 0 || len(trimmed.Messages) != len(req.Messages)-dropped+1 {
		t.Errorf("dropped %d: %d messages left of %d", dropped, len(trimmed.Messages), len(req.Messages))
	}
	lines := transcript(b)
	// System pair, then the first prompt with the note, then a whole round.
	if !strings.HasPrefix(lines[2], "U:<system-reminder>context</system-reminder>\nfix the build\n[kirotray: the ") ||
		!strings.Contains(lines[2], fmt.Sprint(dropped)+" oldest messages") {
		t.Errorf("head: %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "A:step ") || !strings.Contains(lines[3], "|uses=") {
		t.Errorf("first kept turn: %q", lines[3])
	}
	if !strings.HasPrefix(lines[len(lines)-1], "C:and now?") {
		t.Errorf("current: %q", lines[len(lines)-1])
	}
	// The least trimming: one round fewer would not fit.
	plans := trimPlans(req.Messages)
	for i, pl := range plans {
		if pl.dropped() == dropped && i > 0 {
			bigger, _ := BuildRequest(plans[i-1].apply(req), opt)
			if bigger.InputBytes() <= limit {
				t.Errorf("a smaller trim (%d messages) fits too", plans[i-1].dropped())
			}
		}
	}
	// The client's request is untouched.
	if len(req.Messages) != 62 {
		t.Errorf("request modified: %d messages", len(req.Messages))
	}

	if _, _, ok := trimToFit(req, opt, 100, 1); ok {
		t.Error("trimmed below what the last turn needs")
	}
}

func TestSendByteGuard(t *testing.T) {
	frames := func(w http.ResponseWriter, r *http.Request, n int) { writeFrames(w, textFrame("ok")) }
	req := longSession(30, 3000)

	t.Run("refused before sending", func(t *testing.T) {
		up := newUpstream(t, frames)
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{MaxInputBytes: 50_000})
		_, err := c.Send(t.Context(), req)
		var tl *TooLongError
		if !errors.As(err, &tl) || tl.Limit != 50_000 || tl.Bytes <= 50_000 || tl.Err != nil {
			t.Fatalf("err %v, want a *TooLongError over the guard", err)
		}
		if n := len(up.requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
	t.Run("off", func(t *testing.T) {
		up := newUpstream(t, frames)
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{MaxInputBytes: -1})
		st, err := c.Send(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	})
	t.Run("trimmed to fit", func(t *testing.T) {
		up := newUpstream(t, frames)
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{MaxInputBytes: 50_000, TrimHistory: true})
		st, err := c.Send(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		drain(t, st)
		reqs := up.requests()
		if len(reqs) != 1 || st.Trimmed() == 0 {
			t.Fatalf("%d requests, trimmed %d", len(reqs), st.Trimmed())
		}
		if err := checkBody(reqs[0].Body); err != nil {
			t.Fatal(err)
		}
		if n := len(reqs[0].Body); n > 50_000 || n < 30_000 {
			t.Errorf("body of %d bytes, want a little under the guard", n)
		}
	})
}

func TestSendTooLongUpstream(t *testing.T) {
	tooLong := func(limit int) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if r.ContentLength > int64(limit) {
				writeError(w, http.StatusBadRequest, ReasonContentLength, "Input is too long.")
				return
			}
			writeFrames(w, textFrame("ok"))
		}
	}
	req := longSession(30, 3000)

	t.Run("reported", func(t *testing.T) {
		up := newUpstream(t, tooLong(40_000))
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a"), newAccount("b")}}, Config{})
		_, err := c.Send(t.Context(), req)
		var tl *TooLongError
		var ue *UpstreamError
		if !errors.As(err, &tl) || tl.Err == nil || !errors.As(err, &ue) || ue.Reason != ReasonContentLength {
			t.Fatalf("err %v", err)
		}
		if n := len(up.requests()); n != 1 {
			t.Errorf("%d requests: a prompt too long is never retried", n)
		}
	})
	t.Run("trimmed and retried", func(t *testing.T) {
		up := newUpstream(t, tooLong(40_000))
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{TrimHistory: true})
		st, err := c.Send(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		reqs := up.requests()
		if len(reqs) < 2 || st.Trimmed() == 0 {
			t.Fatalf("%d requests, trimmed %d", len(reqs), st.Trimmed())
		}
		last := reqs[len(reqs)-1]
		if len(last.Body) > 40_000 {
			t.Errorf("accepted body of %d bytes", len(last.Body))
		}
		if err := checkBody(last.Body); err != nil {
			t.Error(err)
		}
	})
}
