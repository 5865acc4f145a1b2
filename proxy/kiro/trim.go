package kiro

import (
	"strconv"

	"github.com/kirotray/kirotray/proxy/conv"
)

// History trimming (§3.10), for clients that cannot compact by themselves.
//
// Kiro refuses a body over its hidden input limit. Claude Code compacts when
// told "prompt is too long", which is what Send reports by default; with
// Config.TrimHistory Send instead drops the oldest messages of the
// conversation until the body fits, and the stream says how many went
// (Stream.Trimmed).
//
// Trimming works on the neutral conversation, before BuildRequest, so that
// the pairing repair of §3.3 always runs on what is left. A cut is made only
// before an assistant message or before a user message without tool results:
// every tool result that stays is preceded by the tool call it answers. The
// system prompt always stays whole, and so does the leading run of user
// messages (Claude Code's first prompt with its context and its system
// reminders); a note in their place tells the model that messages are missing.

// trimNote is the text that stands for the n messages left out.
func trimNote(n int) string {
	return "[kirotray: the " + strconv.Itoa(n) + " oldest messages of this conversation were left out to fit the upstream's input limit.]"
}

// trimPlan is one way to shorten a conversation: keep messages[:head] and
// messages[cut:], drop those between.
type trimPlan struct {
	head, cut int
}

func (p trimPlan) dropped() int { return p.cut - p.head }

// trimPlans lists the ways to shorten msgs, from the one that drops least to
// the one that drops most; nil when msgs cannot be shortened. The last plan
// gives up the head too and keeps only the shortest valid tail.
func trimPlans(msgs []conv.Message) []trimPlan {
	head := 0
	for head < len(msgs) && msgs[head].Role != conv.Assistant && !hasToolResult(&msgs[head]) {
		head++
	}
	if head >= len(msgs)-1 {
		head = 0 // one run of user messages: nothing to keep apart
	}
	var plans []trimPlan
	last := -1
	for i := max(head+1, 1); i < len(msgs); i++ {
		if msgs[i].Role == conv.Assistant || !hasToolResult(&msgs[i]) {
			plans = append(plans, trimPlan{head: head, cut: i})
			last = i
		}
	}
	if head > 0 && last > 0 {
		plans = append(plans, trimPlan{head: 0, cut: last})
	}
	return plans
}

func hasToolResult(m *conv.Message) bool {
	for i := range m.Content {
		if m.Content[i].Type == conv.ToolResult {
			return true
		}
	}
	return false
}

// apply returns a shallow copy of req with the plan's messages replaced by
// one note. req is not modified.
func (p trimPlan) apply(req *conv.Request) *conv.Request {
	out := *req
	msgs := make([]conv.Message, 0, p.head+1+len(req.Messages)-p.cut)
	msgs = append(msgs, req.Messages[:p.head]...)
	msgs = append(msgs, conv.Message{Role: conv.User, Content: []conv.Block{{Type: conv.Text, Text: trimNote(p.dropped())}}})
	msgs = append(msgs, req.Messages[p.cut:]...)
	out.Messages = msgs
	return &out
}

// trimToFit returns the least trimmed form of req whose body has at most
// limit bytes of text (Payload.InputBytes), built with opt, and the number
// of messages it dropped. At least minDrop messages are dropped, so a caller
// that already trimmed can ask for more. ok is false when no trimming fits.
// Plans are tried by binary search: each costs one BuildRequest, and only
// requests already over the limit get here.
func trimToFit(req *conv.Request, opt BuildOptions, limit, minDrop int) (trimmed *conv.Request, dropped int, ok bool) {
	plans := trimPlans(req.Messages)
	first := 0
	for first < len(plans) && plans[first].dropped() < minDrop {
		first++
	}
	fits := func(p trimPlan) (*conv.Request, bool) {
		r := p.apply(req)
		payload, err := BuildRequest(r, opt)
		if err != nil {
			return nil, false
		}
		n := payload.InputBytes()
		payload.Release()
		return r, n <= limit
	}
	lo, hi := first, len(plans) // the answer is in [lo, hi); hi means none
	var best *conv.Request
	for lo < hi {
		mid := lo + (hi-lo)/2
		if r, ok := fits(plans[mid]); ok {
			best, hi = r, mid
		} else {
			lo = mid + 1
		}
	}
	if best == nil {
		return nil, 0, false
	}
	return best, plans[hi].dropped(), true
}
