package kiro

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/kirotray/kirotray/proxy/conv"
)

// BuildOptions are the per-call inputs of [BuildRequest] that do not come
// from the client's request.
type BuildOptions struct {
	// Model is the Kiro model; a zero ID means MapModel(req.Model).
	Model Model
	// ProfileARN is sent as the body's profileArn; empty omits it, which is
	// what Kiro API keys need (§3.8).
	ProfileARN string
	// ConversationID is used when req.ConversationID is empty; when both are
	// empty a new random UUID is used.
	ConversationID string
	// ContinuationID is the agentContinuationId; empty means a new random
	// UUID. Send keeps one per logical request across its retries.
	ContinuationID string
	// HistoryImageTurns is how many of the most recent history user turns
	// keep their images; older ones get a note instead. Zero means 5 (as
	// AIC); negative keeps no history image. Images of the current message
	// are always kept.
	HistoryImageTurns int
}

// Payload is a generateAssistantResponse body and what the answer's stream
// needs to be read back.
type Payload struct {
	// Body is the JSON request body.
	Body []byte
	// ToolNames maps each tool name that had to be shortened or cleaned
	// (§3.5) back to the client's original; nil when none was.
	ToolNames map[string]string
	// Model is the Kiro model the body asks for.
	Model Model
	// ConversationID is the body's conversationId.
	ConversationID string
	// ImageBytes is how much of Body is base64 image data: the upstream's
	// input limit (§3.10) is about the rest, see InputBytes.
	ImageBytes int

	buf atomic.Pointer[[]byte] // Body's pooled buffer until Release
}

// Release gives Body's memory back for reuse by a later BuildRequest. Call
// it at most once, when nothing reads Body any more (Send does this for its
// own payloads once the transport has closed every request body); Body must
// not be used afterwards. Never calling it is fine: the garbage collector
// then takes the buffer.
func (p *Payload) Release() {
	if b := p.buf.Swap(nil); b != nil {
		bodyPool.Put(b)
	}
}

// InputBytes is the size of Body without its image data: what the byte
// guard of Config.MaxInputBytes measures.
func (p *Payload) InputBytes() int { return len(p.Body) - p.ImageBytes }

// ToolName returns the client's name for a tool name Kiro sent back.
func (p *Payload) ToolName(sent string) string {
	if orig, ok := p.ToolNames[sent]; ok {
		return orig
	}
	return sent
}

// Fixed texts of the body (§3.3, §3.4).
const (
	systemAck = "I will follow these instructions." // the assistant half of the system pair (KRS)
	// emptyUser fills a history user turn that has nothing; the backend
	// refuses empty content without tool results (KGW, KCC use "(empty)").
	emptyUser = "(empty)"
	// emptyCurrent fills a current message that has nothing (AIC, KCC).
	emptyCurrent = "Continue"
	// toolOnlyAssistant is the content of an assistant turn that only calls
	// tools: one space, so no invented words enter the model's context (KRS).
	toolOnlyAssistant = " "
	// emptyAssistant fills an assistant turn left with nothing at all.
	emptyAssistant = "(empty)"

	defaultHistoryImageTurns = 5
	// maxImageBytes is Bedrock's documented per-image limit (3.75 MB); Kiro
	// states none, so a bigger image is replaced by a note rather than sent.
	maxImageBytes = 3_750_000
	// MaxImages is how many images one request may carry: Bedrock's
	// Converse limit, which Kiro forwards to. Older images beyond it become
	// notes.
	MaxImages = 20

	// Thinking budget bounds (§5.1: AIC/KPX clamp, KRS cap and default).
	minThinkingBudget     = 1024
	maxThinkingBudget     = 24_576
	defaultThinkingBudget = 20_000
)

// BuildRequest turns a conversation into a generateAssistantResponse body
// that obeys every rule of §3.3–3.7, whatever history the client sent. It is
// a pipeline of small steps over an intermediate list of turns:
//
//	toTurns          blocks → turns; misplaced tool blocks start a turn of the
//	                 right role; thinking re-wrapped as text; images checked;
//	                 with no tools declared, tool blocks become text
//	dropPrefill      trailing assistant turns go (the current turn is a user's)
//	mergeRuns        consecutive same-role turns merge (text beside a tool
//	                 result is kept)
//	frameTurns       starts and ends with a user turn
//	repairPairing    every tool use answered exactly once by the next turn, in
//	                 order; orphan results become text, duplicates and
//	                 unanswered uses go
//	limitImages      old history images become a note, at most MaxImages stay
//	declareHistoryTools, toolChoice, fillPlaceholders, then one encode.
//
// The only error is a nil request.
func BuildRequest(req *conv.Request, opt BuildOptions) (*Payload, error) {
	if req == nil {
		return nil, errors.New("kiro: build: nil request")
	}
	model := opt.Model
	if model.ID == "" {
		model = MapModel(req.Model)
	}
	var names toolNames
	specs := buildTools(req.Tools, &names)
	textTools := len(specs) == 0

	turns := toTurns(req.Messages, textTools, &names)
	turns = dropPrefill(turns)
	turns = mergeRuns(turns)
	turns = frameTurns(turns)
	repairPairing(turns)
	keep := opt.HistoryImageTurns
	if keep == 0 {
		keep = defaultHistoryImageTurns
	}
	limitImages(turns, keep)
	imageBytes := capImages(turns, MaxImages)
	if !textTools {
		specs = declareHistoryTools(specs, turns)
	}
	current := &turns[len(turns)-1]
	current.addText(toolChoiceInstruction(req.ToolChoice, &names, !textTools), "\n\n")
	current.addText(outputSchemaInstruction(req.OutputSchema), "\n\n")
	fillPlaceholders(turns)

	convID := req.ConversationID
	if convID == "" {
		convID = opt.ConversationID
	}
	if convID == "" {
		convID = uuid.NewString()
	}
	contID := opt.ContinuationID
	if contID == "" {
		contID = uuid.NewString()
	}
	body, pooled := encodeBody(bodyParts{
		conversationID: convID,
		continuationID: contID,
		profileARN:     opt.ProfileARN,
		modelID:        model.ID,
		thinking:       thinkingPrefix(req, model),
		system:         req.System,
		turns:          turns,
		tools:          specs,
	})
	p := &Payload{Body: body, ToolNames: names.short, Model: model, ConversationID: convID, ImageBytes: imageBytes}
	p.buf.Store(pooled)
	return p, nil
}

// turn is one message of the intermediate form. User turns use text, images
// and results; assistant turns use text and uses.
type turn struct {
	assistant bool
	text      string
	glue      bool // the next text joins without a separator (after a thinking block)
	images    []image
	uses      []toolUse
	results   []toolResult
}

type toolUse struct {
	id, name string // name as sent (shortened if needed)
	input    json.RawMessage
}

type toolResult struct {
	id      string
	text    string
	isError bool
}

type image struct {
	format string // png, jpeg, gif, webp
	data   string // base64
}

func (t *turn) empty() bool {
	return t.text == "" && len(t.images) == 0 && len(t.uses) == 0 && len(t.results) == 0
}

// addText appends s, separated from earlier text by sep.
func (t *turn) addText(s, sep string) {
	switch {
	case s == "":
	case t.text == "" || t.glue:
		t.text += s
	default:
		t.text = t.text + sep + s
	}
	if s != "" {
		t.glue = false
	}
}

// separator joins texts within a role: "\n" for users, "\n\n" for assistants (KRS).
func (t *turn) separator() string {
	if t.assistant {
		return "\n\n"
	}
	return "\n"
}

// splitter accumulates the turns of toTurns.
type splitter struct {
	out []turn
	cur turn
}

// as makes the current turn one of the given role, closing the previous one.
func (s *splitter) as(assistant bool) *turn {
	if s.cur.assistant != assistant {
		s.flush()
		s.cur = turn{assistant: assistant}
	}
	return &s.cur
}

func (s *splitter) flush() {
	if !s.cur.empty() {
		s.out = append(s.out, s.cur)
	}
	s.cur = turn{}
}

// toTurns converts messages to turns (§3.3 rules 2, 8, 11, 12; §3.7). Any
// role but assistant is a user (rule 2). A tool_use inside a user message or
// a tool_result inside an assistant message splits the message so that the
// block sits in a turn of the right role (rule 8); mergeRuns then joins it
// with its neighbours. Thinking blocks of assistant messages become
// "<thinking>…</thinking>\n\n" text, redacted or empty ones are dropped
// (rule 12). Without declared tools every tool block becomes text (rule 11).
// Messages that end up with nothing produce no turn.
func toTurns(msgs []conv.Message, textTools bool, names *toolNames) []turn {
	s := splitter{out: make([]turn, 0, len(msgs)+2)}
	for mi := range msgs {
		m := &msgs[mi]
		asst := m.Role == conv.Assistant
		s.cur = turn{assistant: asst}
		for bi := range m.Content {
			b := &m.Content[bi]
			switch b.Type {
			case conv.Text:
				t := s.as(asst)
				t.addText(b.Text, t.separator())
			case conv.Reasoning:
				if asst && b.Text != "" {
					t := s.as(true)
					t.addText("<thinking>"+b.Text+"</thinking>\n\n", "\n\n")
					t.glue = true
				}
			case conv.Image:
				if !asst { // assistants do not send images; nothing to keep
					addImage(s.as(false), b)
				}
			case conv.ToolUse:
				if textTools {
					t := s.as(asst)
					t.addText(toolUseText(b), t.separator())
					continue
				}
				t := s.as(true)
				t.uses = append(t.uses, toolUse{id: b.ToolUseID, name: names.get(b.ToolName), input: normalizeInput(b.Input)})
			case conv.ToolResult:
				if textTools {
					t := s.as(asst)
					t.addText(toolResultText(b.ToolUseID, resultText(b), b.IsError), t.separator())
					continue
				}
				t := s.as(false)
				t.results = append(t.results, toolResult{id: b.ToolUseID, text: resultText(b), isError: b.IsError})
				for ci := range b.Content {
					if b.Content[ci].Type == conv.Image {
						addImage(t, &b.Content[ci])
					}
				}
			}
		}
		s.flush()
	}
	return s.out
}

// resultText joins the text blocks of a tool result with "\n".
func resultText(b *conv.Block) string {
	text, n := "", 0
	for i := range b.Content {
		if c := &b.Content[i]; c.Type == conv.Text && c.Text != "" {
			if n == 0 {
				text = c.Text
			} else {
				text += "\n" + c.Text
			}
			n++
		}
	}
	return text
}

// toolUseText and toolResultText are the text forms of tool blocks (KGW, KCC).
func toolUseText(b *conv.Block) string {
	return "[Tool: " + b.ToolName + " (" + b.ToolUseID + ")]\n" + string(normalizeInput(b.Input))
}

func toolResultText(id, text string, isError bool) string {
	if isError {
		return "[Tool Result (" + id + "), error]\n" + text
	}
	return "[Tool Result (" + id + ")]\n" + text
}

// addImage adds an image to a user turn, or a note saying why it was left out
// (§3.7: only base64 png/jpeg/gif/webp; a data: URL prefix is stripped).
func addImage(t *turn, b *conv.Block) {
	data, media := b.Data, b.MediaType
	if strings.HasPrefix(data, "data:") {
		if i := strings.IndexByte(data, ','); i >= 0 {
			if media == "" {
				media, _, _ = strings.Cut(data[len("data:"):i], ";")
			}
			data = data[i+1:]
		}
	}
	format := imageFormat(media)
	switch {
	case format == "":
		t.addText("[image omitted: unsupported type "+strconv.Quote(media)+"]", "\n")
	case data == "":
		t.addText("[image omitted: no data]", "\n")
	case len(data)/4*3 > maxImageBytes:
		t.addText("[image omitted: larger than 3.75 MB]", "\n")
	default:
		t.images = append(t.images, image{format: format, data: data})
	}
}

func imageFormat(media string) string {
	switch strings.ToLower(strings.TrimSpace(media)) {
	case "image/png", "png":
		return "png"
	case "image/jpeg", "image/jpg", "jpeg", "jpg":
		return "jpeg"
	case "image/gif", "gif":
		return "gif"
	case "image/webp", "webp":
		return "webp"
	}
	return ""
}

// dropPrefill removes trailing assistant turns (§3.3 rule 1): the current
// message must be a user turn, and Claude 4 models no longer take prefill
// (KRS). A conversation without any user turn keeps its assistant turns;
// frameTurns then adds the user turns around them.
func dropPrefill(turns []turn) []turn {
	hasUser := false
	for i := range turns {
		if !turns[i].assistant {
			hasUser = true
			break
		}
	}
	if !hasUser {
		return turns
	}
	for len(turns) > 0 && turns[len(turns)-1].assistant {
		turns = turns[:len(turns)-1]
	}
	return turns
}

// mergeRuns merges consecutive turns of one role (§3.3 rule 3): user texts
// joined with "\n", assistant texts with "\n\n", images, tool uses and tool
// results concatenated. A user turn's text beside its tool results is kept
// (Claude Code on resume sends a tool result and the next prompt together).
func mergeRuns(turns []turn) []turn {
	if len(turns) < 2 {
		return turns
	}
	out := turns[:1]
	for _, t := range turns[1:] {
		last := &out[len(out)-1]
		if last.assistant != t.assistant {
			out = append(out, t)
			continue
		}
		last.addText(t.text, last.separator())
		last.images = append(last.images, t.images...)
		last.uses = append(last.uses, t.uses...)
		last.results = append(last.results, t.results...)
	}
	return out
}

// frameTurns makes the list start with a user turn (§3.3 rule 4) and end
// with one (the current message); after mergeRuns roles alternate, so the
// history then alternates and ends with an assistant turn (rules 5, 6). An
// empty list becomes one empty user turn.
func frameTurns(turns []turn) []turn {
	if len(turns) == 0 {
		return []turn{{}}
	}
	if turns[0].assistant {
		turns = append([]turn{{}}, turns...)
	}
	if turns[len(turns)-1].assistant {
		turns = append(turns, turn{})
	}
	return turns
}

// repairPairing enforces §3.3 rule 9 on alternating turns: each tool use of
// an assistant turn is answered exactly once by the results of the next
// (user) turn, and each result answers a use of the turn just before it.
//
//   - Tool uses without an id or a name, and uses whose id was already used
//     earlier, are dropped.
//   - A result whose id was already answered (or already seen) is a
//     duplicate and is dropped (the backend rejects duplicates).
//   - A result that answers no use of the previous turn (an orphan, e.g.
//     after the client compacted its history) becomes text in its turn,
//     "[Tool Result (<id>)]\n<text>", so its content is not lost (KGW, KCC).
//   - A tool use left unanswered is dropped (KRS). Turning it into text was
//     rejected: tool calls written as text in assistant history teach the
//     model to answer with text-form tool calls.
//   - Results are reordered to the order of the uses (KCC).
func repairPairing(turns []turn) {
	var usedIDs map[string]bool
	var results map[string]uint8 // result id → paired or orphaned
	for i := range turns {
		t := &turns[i]
		if t.assistant {
			t.uses = dedupeUses(t.uses, &usedIDs)
			continue
		}
		var prev *turn
		if i > 0 {
			prev = &turns[i-1]
		}
		if len(t.results) == 0 {
			if prev != nil {
				prev.uses = nil
			}
			continue
		}
		if results == nil {
			results = make(map[string]uint8)
		}
		kept := t.results[:0:0]
		var orphans []string
		for _, r := range t.results {
			switch {
			case r.id != "" && results[r.id] == paired:
				// duplicate of an answered result: dropped
			case prev != nil && r.id != "" && hasUse(prev.uses, r.id):
				results[r.id] = paired
				kept = append(kept, r)
			case r.id != "" && results[r.id] == orphaned:
				// duplicate of an orphan already kept as text: dropped
			default:
				if r.id != "" {
					results[r.id] = orphaned
				}
				orphans = append(orphans, toolResultText(r.id, r.text, r.isError))
			}
		}
		if prev != nil {
			var ordered []toolResult
			uses := prev.uses[:0]
			for _, u := range prev.uses {
				for _, r := range kept {
					if r.id == u.id {
						ordered = append(ordered, r)
						uses = append(uses, u)
						break
					}
				}
			}
			prev.uses = uses
			kept = ordered
		}
		t.results = kept
		if len(orphans) > 0 {
			text := strings.Join(orphans, "\n")
			if t.text != "" {
				text += "\n" + t.text
			}
			t.text = text
		}
	}
}

// States of a tool result id in repairPairing.
const (
	paired   = 1
	orphaned = 2
)

func hasUse(uses []toolUse, id string) bool {
	for i := range uses {
		if uses[i].id == id {
			return true
		}
	}
	return false
}

func dedupeUses(uses []toolUse, seen *map[string]bool) []toolUse {
	if len(uses) == 0 {
		return nil
	}
	if *seen == nil {
		*seen = make(map[string]bool)
	}
	out := uses[:0]
	for _, u := range uses {
		if u.id == "" || u.name == "" || (*seen)[u.id] {
			continue
		}
		(*seen)[u.id] = true
		out = append(out, u)
	}
	return out
}

// limitImages keeps the images of the current message and of the keep most
// recent history user turns; older history images become a note (§3.7, as
// AIC). It bounds the payload and still tells the model an image was there.
func limitImages(turns []turn, keep int) {
	seen := 0
	for i := len(turns) - 2; i >= 0; i-- {
		t := &turns[i]
		if t.assistant {
			continue
		}
		seen++
		if seen <= keep || len(t.images) == 0 {
			continue
		}
		note := "[image omitted from earlier in the conversation]"
		if n := len(t.images); n > 1 {
			note = "[" + strconv.Itoa(n) + " images omitted from earlier in the conversation]"
		}
		t.images = nil
		t.addText(note, "\n")
	}
}

// capImages keeps at most limit images in the request, the newest: the
// current message's first, then history from the most recent turn back.
// Images beyond that become a note. It returns the base64 bytes kept.
func capImages(turns []turn, limit int) int {
	kept, size := 0, 0
	for i := len(turns) - 1; i >= 0; i-- {
		t := &turns[i]
		if len(t.images) == 0 {
			continue
		}
		n := min(len(t.images), limit-kept)
		for _, im := range t.images[:n] {
			size += len(im.data)
		}
		kept += n
		if dropped := len(t.images) - n; dropped > 0 {
			t.images = t.images[:n:n]
			note := "[image omitted: a request may carry at most " + strconv.Itoa(limit) + " images]"
			if dropped > 1 {
				note = "[" + strconv.Itoa(dropped) + " images omitted: a request may carry at most " + strconv.Itoa(limit) + " images]"
			}
			t.addText(note, "\n")
		}
	}
	return size
}

// outputSchemaInstruction is Kiro's stand-in for structured outputs, which
// it lacks: an instruction appended to the current message. The schema is
// sent compacted.
func outputSchemaInstruction(schema json.RawMessage) string {
	if len(schema) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, schema) != nil {
		return ""
	}
	return OutputSchemaPreamble + "\n" + buf.String()
}

// OutputSchemaPreamble starts the instruction that asks for a JSON answer
// (conv.Request.OutputSchema); the compacted schema follows on the next line.
const OutputSchemaPreamble = "Answer with only a JSON value that conforms to the JSON Schema below: no code fences, no other text."

// toolChoiceInstruction is Kiro's stand-in for tool_choice, which it lacks:
// an instruction appended to the current message.
func toolChoiceInstruction(tc conv.ToolChoice, names *toolNames, haveTools bool) string {
	if !haveTools {
		return ""
	}
	switch tc.Type {
	case conv.ToolChoiceAny:
		return "You must respond by calling one or more of the available tools."
	case conv.ToolChoiceTool:
		if tc.Name != "" {
			return "You must respond by calling the tool named \"" + names.get(tc.Name) + "\"."
		}
		return "You must respond by calling one or more of the available tools."
	case conv.ToolChoiceNone:
		return "Do not call any tools in this response; answer with text only."
	}
	return ""
}

// fillPlaceholders gives every turn the content the backend insists on
// (§3.4): an assistant turn that only calls tools gets one space, one with
// nothing "(empty)"; a user turn with tool results may stay empty (""), a
// history user turn with nothing gets "(empty)", the current one "Continue".
func fillPlaceholders(turns []turn) {
	for i := range turns {
		t := &turns[i]
		if !blank(t.text) {
			continue
		}
		switch {
		case t.assistant && len(t.uses) > 0:
			t.text = toolOnlyAssistant
		case t.assistant:
			t.text = emptyAssistant
		case len(t.results) > 0:
			t.text = ""
		case i == len(turns)-1:
			t.text = emptyCurrent
		default:
			t.text = emptyUser
		}
	}
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// thinkingPrefix returns what goes before the client's system prompt in
// the system pair: the thinking tags (§5.1), followed by "\n" when there is
// a system prompt. It is empty when no thinking was asked for or the prompt
// already carries the tags.
func thinkingPrefix(req *conv.Request, model Model) string {
	tags := thinkingTags(req.Thinking, model)
	if tags == "" || strings.Contains(req.System, "<thinking_mode>") || strings.Contains(req.System, "<max_thinking_length>") {
		return ""
	}
	if req.System == "" {
		return tags
	}
	return tags + "\n"
}

// thinkingTags is the prompt-tag form of a thinking request (§5.1). A model
// name that asked for thinking turns it on when the request did not: Opus
// 4.6 and later adaptive with high effort, other models a 20 000 budget (KRS).
func thinkingTags(th conv.Thinking, model Model) string {
	if th.Mode == conv.ThinkingOff && model.Thinking {
		if model.Family == FamilyOpus && model.ID != "claude-opus-4.5" {
			th = conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}
		} else {
			th = conv.Thinking{Mode: conv.ThinkingEnabled}
		}
	}
	switch th.Mode {
	case conv.ThinkingEnabled:
		budget := th.Budget
		if budget <= 0 {
			budget = defaultThinkingBudget
		}
		budget = min(max(budget, minThinkingBudget), maxThinkingBudget)
		return "<thinking_mode>enabled</thinking_mode><max_thinking_length>" + strconv.Itoa(budget) + "</max_thinking_length>"
	case conv.ThinkingAdaptive:
		effort := strings.ToLower(th.Effort)
		switch effort {
		case "low", "medium", "high", "max":
		default:
			effort = "high"
		}
		return "<thinking_mode>adaptive</thinking_mode><thinking_effort>" + effort + "</thinking_effort>"
	}
	return ""
}

// bodyParts is everything encodeBody writes.
type bodyParts struct {
	conversationID, continuationID, profileARN, modelID string
	// thinking and system make the system pair's text (thinking first);
	// both empty: no system pair.
	thinking, system string
	turns            []turn // alternating, user first and last
	tools            []spec
}
