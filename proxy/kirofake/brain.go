package kirofake

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The demo brain answers a valid chat call when no Reply is queued. It is a
// handful of rules, not a model: enough for a person trying Claude Code,
// Codex or an SDK through kirotray to see text stream, thinking appear and a
// tool call make the round trip. Its randomness (chunk boundaries, tool ids,
// which tags are split) comes from Config.Seed and the conversation, so the
// same conversation always gets the same frames, whatever else runs.

// demoReply returns the brain's events for a valid request and the credits
// they meter.
func (s *Server) demoReply(req *Request, c checked, bodyLen int) ([]Event, float64) {
	cs := req.ConversationState
	cur := cs.CurrentMessage.User
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), digest(cs)))

	system := ""
	if len(cs.History) > 0 {
		system = cs.History[0].User.Content
	}
	thinking := wantsThinking(cur.Content) || wantsThinking(system)
	prompt := cleanPrompt(cur.Content)

	var answer, reasoning string
	var call *toolPlan
	if schema, asked, ok := jsonInstruction(cur.Content); ok {
		// Structured output (Claude Code's session titles): an object
		// filled from the schema, with text taken from the request.
		asked = cleanPrompt(asked)
		f := &filler{command: "ls -la", file: "README.md", describe: titleFrom(asked), prompt: oneLine(asked, 200)}
		answer, reasoning = string(f.value(nil, "", schema, 0)), "The user wants JSON that fits the schema."
	} else if cur.Context != nil && len(cur.Context.ToolResults) > 0 {
		answer = summarise(cur.Context.ToolResults)
		reasoning = "The tool has finished. I'll tell the user what it returned."
	} else if len(c.tools) > 0 {
		if call = planTool(c.tools, prompt, findCwd(cs)); call != nil {
			answer, reasoning = call.sentence, call.reasoning
		}
	}
	if answer == "" {
		answer, reasoning = echo(prompt, earlierPrompt(cs)), "The user wrote to kirotray's demo upstream, which can only echo. I'll repeat the message and mention signing in."
	}

	text, forced, whole := answer, []int(nil), [2]int{}
	if thinking {
		head := "<thinking>\n" + reasoning + "\n</thinking>\n\n"
		text = head + answer
		// Clients must reassemble tags split across frames: always split
		// the opening tag; split the closing one half of the time, and
		// otherwise send it whole.
		forced = append(forced, 1+rng.IntN(len("<thinking>")-1))
		end := strings.Index(head, "</thinking>")
		if rng.IntN(2) == 0 {
			forced = append(forced, end+1+rng.IntN(len("</thinking>")-1))
		} else {
			whole = [2]int{end, end + len("</thinking>")}
		}
	}
	var events []Event
	for _, piece := range split(text, rng, forced, whole, 2, 9) {
		events = append(events, Text(piece))
	}
	outBytes := len(text)
	if call != nil {
		events = append(events, toolEvents(toolID(rng), call.tool.name, call.input, rng)...)
		outBytes += len(call.input)
	}

	// About 4 bytes a token; credits grow with both sides, scaled by the
	// model's rate, as Kiro's metering does.
	inTokens, outTokens := bodyLen/4, outBytes/4+1
	rate, window := c.model.RateMultiplier, c.model.MaxInputTokens
	if rate <= 0 {
		rate = 1
	}
	if window <= 0 {
		window = 200_000
	}
	credits := round(rate*(0.01+float64(inTokens)/100_000+float64(outTokens)/20_000), 4)
	pct := round(100*float64(inTokens)/float64(window), 4)
	return append(events, Metering(credits), ContextUsage(pct)), credits
}

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

// digest identifies a conversation for seeding: the whole current message,
// and the shape of history (lengths, tool use ids) rather than all its bytes.
// Random ids the client adds per call (conversationId, agentContinuationId)
// are left out so that proxy-level golden tests stay stable.
func digest(cs *ConversationState) uint64 {
	h := fnv.New64a()
	var n [8]byte
	num := func(x int) { h.Write(strconv.AppendInt(n[:0], int64(x), 10)); h.Write([]byte{0}) }
	str := func(s string) { io.WriteString(h, s); h.Write([]byte{0}) }
	for _, m := range cs.History {
		if u := m.User; u != nil {
			num(len(u.Content))
			if u.Context != nil {
				for _, r := range u.Context.ToolResults {
					str(r.ToolUseID)
				}
			}
		}
		if a := m.Assistant; a != nil {
			num(len(a.Content))
			for _, t := range a.ToolUses {
				str(t.ToolUseID)
			}
		}
	}
	u := cs.CurrentMessage.User
	str(u.ModelID)
	str(u.Content)
	if u.Context != nil {
		for _, r := range u.Context.ToolResults {
			str(r.ToolUseID)
			num(len(r.Content))
		}
		for _, t := range u.Context.Tools {
			if t.ToolSpecification != nil {
				str(t.ToolSpecification.Name)
			}
		}
	}
	return h.Sum64()
}

// jsonPreamble is how a client asks for a JSON answer in words (kirotray
// appends it, followed by the schema on the next line, when a client asks
// for structured output); the brain answers with JSON that fits.
const jsonPreamble = "conforms to the JSON Schema below"

// jsonInstruction finds the JSON Schema a message asks the answer to follow
// and returns it with the text before the instruction.
func jsonInstruction(s string) (schema map[string]any, before string, ok bool) {
	i := strings.Index(s, jsonPreamble)
	if i < 0 {
		return nil, "", false
	}
	_, rest, found := strings.Cut(s[i:], "\n")
	if !found || json.Unmarshal([]byte(strings.TrimSpace(rest)), &schema) != nil {
		return nil, "", false
	}
	before = s[:i]
	if j := strings.LastIndex(before, "\n\n"); j >= 0 {
		before = before[:j] // the instruction's own sentence starts there
	}
	return schema, before, true
}

// titleFrom makes a short title of a request: the first words of what the
// user wrote (inside Claude Code's <session> tags when present).
func titleFrom(s string) string {
	if _, rest, ok := strings.Cut(s, "<session>"); ok {
		s, _, _ = strings.Cut(rest, "</session>")
	}
	words := strings.Fields(s)
	if len(words) > 6 {
		words = words[:6]
	}
	t := strings.Trim(strings.Join(words, " "), ".,:;!?")
	if t == "" {
		return "Demo session"
	}
	r, n := utf8.DecodeRuneInString(t)
	return string(unicode.ToUpper(r)) + t[n:]
}

func wantsThinking(s string) bool {
	return strings.Contains(s, "<thinking_mode>enabled</thinking_mode>") ||
		strings.Contains(s, "<thinking_mode>adaptive</thinking_mode>")
}

// injectedTags wrap text that clients and proxies add around the user's own
// words; the brain looks past them.
var injectedTags = []string{"system-reminder", "environment_context", "session_context", "user_instructions", "INSTRUCTIONS",
	"thinking_mode", "max_thinking_length", "thinking_effort", "thinking_instruction"}

// cleanPrompt returns what the user typed, without injected blocks.
func cleanPrompt(s string) string {
	for _, tag := range injectedTags {
		open, end := "<"+tag+">", "</"+tag+">"
		for {
			i := strings.Index(s, open)
			if i < 0 {
				break
			}
			j := strings.Index(s[i:], end)
			if j < 0 {
				s = s[:i] + s[i+len(open):]
				continue
			}
			s = s[:i] + s[i+j+len(end):]
		}
	}
	return strings.TrimSpace(s)
}

// findCwd returns the working directory a client states in its prompt:
// Claude Code ("Working directory: …"), Codex (<cwd>…</cwd>), Gemini CLI.
func findCwd(cs *ConversationState) string {
	texts := []string{cs.CurrentMessage.User.Content}
	for _, m := range cs.History {
		if m.User != nil {
			texts = append(texts, m.User.Content)
		}
	}
	for _, t := range texts {
		for _, marker := range [...]string{"Working directory: ", "<cwd>", "I'm currently working in the directory: "} {
			if _, rest, ok := strings.Cut(t, marker); ok {
				if i := strings.IndexAny(rest, "\n<"); i >= 0 {
					rest = rest[:i]
				}
				if rest = strings.TrimSpace(rest); path.IsAbs(rest) {
					return rest
				}
			}
		}
	}
	return ""
}

// echo repeats the prompt and, in a conversation that goes on, the user's
// previous prompt, so that a resumed conversation shows it kept its history.
func echo(prompt, earlier string) string {
	q := oneLine(prompt, 160)
	if q == "" {
		return "Hello from kirotray's demo upstream! Sign in to use your Kiro account."
	}
	s := "You said: “" + q + "”"
	if e := oneLine(earlier, 120); e != "" {
		s += "; before that: “" + e + "”"
	}
	return s + " (this is kirotray's demo upstream; sign in to use your Kiro account)"
}

// earlierPrompt is the most recent user prompt in history, past the first
// turn (the system prompt), or "".
func earlierPrompt(cs *ConversationState) string {
	for i := len(cs.History) - 1; i > 0; i-- {
		if u := cs.History[i].User; u != nil {
			if p := cleanPrompt(u.Content); p != "" {
				return p
			}
		}
	}
	return ""
}

// summarise describes tool output in one sentence: line count and first line.
func summarise(results []ToolResult) string {
	r := results[0]
	var b strings.Builder
	for _, c := range r.Content {
		if c.Text != nil {
			b.WriteString(*c.Text)
		} else {
			b.Write(c.JSON)
		}
		b.WriteByte('\n')
	}
	out := strings.TrimSpace(b.String())
	first := firstContentLine(out)
	first = oneLine(first, 100)
	var s string
	switch lines := strings.Count(out, "\n") + 1; {
	case r.Status == "error":
		s = "The tool reported an error: " + quote(first) + "."
	case out == "":
		s = "The tool finished without output."
	case lines == 1:
		s = "The tool returned one line: " + quote(first) + "."
	default:
		s = fmt.Sprintf("The tool returned %d lines; the first is %s.", lines, quote(first))
	}
	if len(results) > 1 {
		s = fmt.Sprintf("All %d tool calls finished. %s", len(results), s)
	}
	return s
}

// firstContentLine is out's first line that is not a bare wrapper tag:
// clients wrap tool output (Gemini CLI: <untrusted_context>).
func firstContentLine(out string) string {
	for line := range strings.Lines(out) {
		t := strings.TrimSpace(line)
		if len(t) > 2 && t[0] == '<' && t[len(t)-1] == '>' && !strings.ContainsAny(t[1:len(t)-1], "<> ") {
			continue
		}
		return strings.TrimRight(line, "\r\n")
	}
	first, _, _ := strings.Cut(out, "\n")
	return first
}

func quote(s string) string {
	if strings.Contains(s, "`") {
		return "“" + s + "”"
	}
	return "`" + s + "`"
}

// oneLine collapses white space and cuts s to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// split cuts s into pieces of lo to hi bytes, also at every forced offset,
// never inside the byte range whole nor inside a UTF-8 sequence.
func split(s string, rng *rand.Rand, forced []int, whole [2]int, lo, hi int) []string {
	slices.Sort(forced)
	var out []string
	for start := 0; start < len(s); {
		end := start + lo + rng.IntN(hi-lo+1)
		for _, f := range forced {
			if f > start && f < end {
				end = f
				break
			}
		}
		if whole[0] > start && whole[0] < end {
			end = whole[0]
		} else if start == whole[0] && end < whole[1] {
			end = whole[1]
		}
		if end >= len(s) {
			end = len(s)
		}
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		out = append(out, s[start:end])
		start = end
	}
	return out
}

// toolEvents streams a tool call the way Kiro does: a fragment with empty
// input, the input cut at arbitrary points (always once inside the first key
// and once right after the first backslash, the cases clients get wrong),
// then a stop fragment.
func toolEvents(id, name, input string, rng *rand.Rand) []Event {
	var forced []int
	if strings.HasPrefix(input, `{"`) {
		if end := 2 + strings.IndexByte(input[2:], '"'); end > 3 {
			forced = append(forced, 3+rng.IntN(end-3))
		}
	}
	if i := strings.IndexByte(input, '\\'); i >= 0 {
		forced = append(forced, i+1)
	}
	evs := []Event{ToolUse{ID: id, Name: name}}
	for _, piece := range split(input, rng, forced, [2]int{}, 1, 12) {
		evs = append(evs, ToolUse{ID: id, Name: name, Input: piece})
	}
	return append(evs, ToolUse{ID: id, Name: name, Stop: true})
}

func toolID(rng *rand.Rand) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("tooluse_")
	for range 22 {
		b = append(b, alnum[rng.IntN(len(alnum))])
	}
	return string(b)
}

// toolPlan is the tool call the brain decided on.
type toolPlan struct {
	tool      *toolInfo
	input     string // JSON object
	sentence  string // said before the call
	reasoning string // inside <thinking> when asked for
}

// Tool names clients use, lower-cased (Claude Code, Codex, Gemini CLI, Cline …).
var (
	shellNames = []string{"bash", "exec_command", "run_shell_command", "shell", "local_shell", "execute_command", "run_terminal_cmd"}
	readNames  = []string{"read", "read_file", "readfile", "view", "view_file", "open_file", "read_text_file"}
	writeNames = []string{"write", "write_file", "writefile", "create_file"}
	pathKeys   = []string{"file_path", "path", "absolute_path", "filepath", "filename", "file", "target_file"}
	// commandWords start a command the brain is willing to pass on as typed.
	commandWords = []string{"ls", "cat", "echo", "pwd", "git", "go", "npm", "npx", "node", "make", "python", "python3",
		"cargo", "grep", "rg", "find", "date", "whoami", "uname", "df", "du", "head", "tail", "wc", "tree",
		"env", "which", "pytest", "yarn", "pnpm", "mkdir", "touch"}
)

// maxActionPrompt is the longest prompt, in runes, read as a request for action.
const maxActionPrompt = 400

// planTool picks a tool and its input when the prompt asks for an action:
// a shell tool for list/run requests, a read tool for read requests, a
// write tool for create/write requests, else the tool the prompt names.
// It returns nil when the prompt asks for nothing a tool could do.
func planTool(tools []*toolInfo, prompt, cwd string) *toolPlan {
	// A person trying the demo types short requests; long prompts are the
	// client's own instructions (Claude Code's compaction asks to "create a
	// detailed summary"), which must not turn into tool calls.
	if utf8.RuneCountInString(prompt) > maxActionPrompt {
		return nil
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(prompt), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		words[w] = true
	}
	file := findPath(prompt)
	list := words["list"] || words["ls"] || words["files"] || words["directory"] || words["folder"] || words["dir"] || words["tree"]
	showFile := words["show"] && !list && file != "" && !strings.HasSuffix(file, "/")
	read := words["read"] || words["cat"] || words["open"] || showFile
	write := words["create"] || words["write"] || words["save"]
	run := words["run"] || words["execute"] || words["exec"] || words["command"] || words["shell"]
	named := namedTool(tools, prompt)

	f := &filler{command: "ls -la", file: file, describe: "List the files in the current directory"}
	if f.file == "" {
		f.file = "README.md"
	}
	var t *toolInfo
	var sentence string
	switch {
	case read:
		if t = findTool(tools, readNames, hasKey(pathKeys)); t != nil {
			sentence = fmt.Sprintf("I'll read %s with the %s tool.", f.file, t.name)
			break
		}
		f.command = "cat " + f.file
		t = shellTool(tools)
	case write:
		if t = findTool(tools, writeNames, hasKey(pathKeys)); t != nil {
			if file == "" {
				f.file = "hello.txt"
			}
			sentence = fmt.Sprintf("I'll write %s with the %s tool.", f.file, t.name)
			break
		}
		f.command = "touch " + f.file
		t = shellTool(tools)
	case list || run:
		f.command = command(prompt, run, list, file)
		t = shellTool(tools)
	}
	if t == nil {
		t = named
	}
	if t == nil {
		return nil
	}
	if sentence == "" {
		if key, _ := shellKey(t); key != "" {
			sentence = fmt.Sprintf("I'll run `%s` with the %s tool.", f.command, t.name)
			f.describe = "Run " + f.command
		} else {
			sentence = fmt.Sprintf("I'll call the %s tool.", t.name)
		}
	}
	if cwd != "" && !path.IsAbs(f.file) {
		f.file = path.Join(cwd, f.file)
	}
	f.prompt = oneLine(prompt, 200)
	return &toolPlan{
		tool:      t,
		input:     string(f.object(nil, t.schema, 0)),
		sentence:  sentence,
		reasoning: fmt.Sprintf("The user asked: “%s”. The %s tool can do that.", oneLine(prompt, 80), t.name),
	}
}

// findTool returns the first tool with one of names, else the first whose
// name contains the first name's stem and whose schema passes ok.
func findTool(tools []*toolInfo, names []string, ok func(*toolInfo) bool) *toolInfo {
	for _, t := range tools {
		if slices.Contains(names, strings.ToLower(t.name)) {
			return t
		}
	}
	for _, t := range tools {
		if strings.Contains(strings.ToLower(t.name), names[0]) && ok(t) {
			return t
		}
	}
	return nil
}

func hasKey(keys []string) func(*toolInfo) bool {
	return func(t *toolInfo) bool {
		return slices.ContainsFunc(t.required, func(k string) bool { return slices.Contains(keys, k) })
	}
}

// shellTool is a tool known as a shell, else one whose schema requires a
// command string (or argv array).
func shellTool(tools []*toolInfo) *toolInfo {
	for _, t := range tools {
		if slices.Contains(shellNames, strings.ToLower(t.name)) {
			return t
		}
	}
	for _, t := range tools {
		if key, _ := shellKey(t); key != "" {
			return t
		}
	}
	return nil
}

// shellKey returns the required command member of a tool, and whether it is
// an argv array rather than a string.
func shellKey(t *toolInfo) (string, bool) {
	props, _ := t.schema["properties"].(map[string]any)
	for _, k := range [...]string{"command", "cmd"} {
		if !slices.Contains(t.required, k) {
			continue
		}
		p, _ := props[k].(map[string]any)
		switch schemaType(p) {
		case "string":
			return k, false
		case "array":
			return k, true
		}
	}
	return "", false
}

// namedTool returns the tool the prompt names: its exact name as a word, or
// "<name> tool" in any case.
func namedTool(tools []*toolInfo, prompt string) *toolInfo {
	lower := strings.ToLower(prompt)
	for _, t := range tools {
		if containsWord(prompt, t.name) || containsWord(lower, strings.ToLower(t.name)+" tool") {
			return t
		}
	}
	return nil
}

func containsWord(s, w string) bool {
	isWord := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for off := 0; ; {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w)
		if (i == 0 || !isWord(s[i-1])) && (j == len(s) || !isWord(s[j])) {
			return true
		}
		off = i + 1
	}
}

// findPath returns the first word of the prompt that looks like a file or
// directory path: it has a slash, or a name with a lettered extension.
func findPath(prompt string) string {
	for _, w := range strings.FieldsFunc(prompt, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("`'\"“”(),;<>[]{}", r)
	}) {
		w = strings.TrimRight(w, ".:!?")
		if w == "" || strings.Contains(w, "://") {
			continue
		}
		if strings.Contains(w, "/") && w != "/" {
			return w
		}
		i := strings.LastIndexByte(w, '.')
		if i <= 0 || i == len(w)-1 || i == 1 && len(w) == 3 { // "e.g"
			continue
		}
		ext := w[i+1:]
		if len(ext) <= 8 && strings.IndexFunc(ext, unicode.IsLetter) >= 0 &&
			strings.IndexFunc(ext, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) < 0 {
			return w
		}
	}
	return ""
}

// command returns the shell command a list/run prompt asks for: a
// backticked command, else what follows "run"/"execute" when it starts with
// a known command, else ls -la (of the named directory, if any).
func command(prompt string, run, list bool, file string) string {
	if _, rest, ok := strings.Cut(prompt, "`"); ok {
		if c, _, ok := strings.Cut(rest, "`"); ok && c != "" && !strings.Contains(c, "\n") {
			return c
		}
	}
	if run {
		lower := strings.ToLower(prompt)
		for _, verb := range [...]string{"run ", "execute "} {
			i := strings.Index(lower, verb)
			if i < 0 || i > 0 && lower[i-1] != ' ' {
				continue
			}
			c := prompt[i+len(verb):]
			if j := strings.IndexAny(c, "\n?!"); j >= 0 {
				c = c[:j]
			}
			if j := strings.Index(c, ". "); j >= 0 {
				c = c[:j]
			}
			c = strings.TrimSpace(c)
			if strings.HasSuffix(c, ".") && !strings.HasSuffix(c, "..") {
				c = c[:len(c)-1]
			}
			for _, p := range [...]string{"the command ", "command "} {
				c = strings.TrimPrefix(c, p)
			}
			if first, _, _ := strings.Cut(c, " "); slices.Contains(commandWords, first) {
				return c
			}
		}
	}
	if list && file != "" && (strings.HasSuffix(file, "/") || path.Ext(file) == "") {
		return "ls -la " + file
	}
	return "ls -la"
}

// filler builds a tool input from its JSON Schema: every required member,
// filled by name and type.
type filler struct {
	command, file, describe, prompt string
}

func (f *filler) object(b []byte, node map[string]any, depth int) []byte {
	props, _ := node["properties"].(map[string]any)
	req, _ := node["required"].([]any)
	b = append(b, '{')
	for i, k := range req {
		key, _ := k.(string)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, key)
		b = append(b, ':')
		sub, _ := props[key].(map[string]any)
		b = f.value(b, key, sub, depth+1)
	}
	return append(b, '}')
}

func (f *filler) value(b []byte, key string, node map[string]any, depth int) []byte {
	if depth > 8 {
		return append(b, "{}"...)
	}
	if enum, ok := node["enum"].([]any); ok && len(enum) > 0 {
		return appendJSON(b, enum[0])
	}
	if c, ok := node["const"]; ok {
		return appendJSON(b, c)
	}
	for _, k := range [...]string{"anyOf", "oneOf"} {
		if alts, ok := node[k].([]any); ok {
			for _, a := range alts {
				if m, ok := a.(map[string]any); ok && schemaType(m) != "null" {
					return f.value(b, key, m, depth+1)
				}
			}
		}
	}
	switch typ := schemaType(node); typ {
	case "integer", "number":
		v := 1.0
		if m, ok := node["minimum"].(float64); ok && m > v {
			v = math.Ceil(m)
		}
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case "boolean":
		return append(b, "false"...)
	case "null":
		return append(b, "null"...)
	case "array":
		items, _ := node["items"].(map[string]any)
		if (key == "command" || key == "cmd") && schemaType(items) == "string" {
			b = append(b, `["bash","-lc",`...)
			return append(appendString(b, f.command), ']')
		}
		if n, _ := node["minItems"].(float64); n >= 1 {
			return append(f.value(append(b, '['), key, items, depth+1), ']')
		}
		return append(b, "[]"...)
	case "object":
		return f.object(b, node, depth)
	case "":
		if _, ok := node["properties"]; ok {
			return f.object(b, node, depth)
		}
	}
	return appendString(b, f.str(key))
}

// str fills a string member by its name.
func (f *filler) str(key string) string {
	switch strings.ToLower(key) {
	case "command", "cmd", "script":
		return f.command
	case "file_path", "path", "absolute_path", "filepath", "filename", "file", "target_file", "notebook_path":
		return f.file
	case "pattern", "glob", "glob_pattern":
		return "**/*.go"
	case "query", "q", "search", "search_term", "regex":
		return "TODO"
	case "url", "uri":
		return "https://example.com"
	case "content", "contents", "text", "new_string", "new_str", "file_text":
		return "Hello from kirotray's demo upstream.\n"
	case "old_string", "old_str":
		return "Hello"
	case "description", "reason", "explanation", "justification", "title", "summary":
		return f.describe
	case "prompt", "message", "instructions", "task":
		return f.prompt
	}
	return "demo"
}

// schemaType returns a schema's type, the first non-null one of a list.
func schemaType(node map[string]any) string {
	switch t := node["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, _ := x.(string); s != "" && s != "null" {
				return s
			}
		}
	}
	return ""
}

func appendJSON(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}
