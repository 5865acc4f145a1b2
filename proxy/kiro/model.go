package kiro

import (
	"strconv"
	"strings"
)

// Model is the Kiro model that serves a request.
type Model struct {
	// ID is the Kiro model id sent as modelId, e.g. "claude-sonnet-4.5".
	ID string
	// Window is the model's context window in tokens (see [ContextWindow]),
	// for turning contextUsagePercentage into a token count.
	Window int
	// Family is "opus", "sonnet", "haiku", "auto", or "" for a non-Claude
	// catalogue model.
	Family string
	// Thinking is set when the client's model name asked for reasoning
	// ("…-thinking"). BuildRequest then injects thinking tags even if the
	// request did not ask for thinking, so the stream translator must parse
	// them when Thinking is set.
	Thinking bool
}

// Model families.
const (
	FamilyOpus   = "opus"
	FamilySonnet = "sonnet"
	FamilyHaiku  = "haiku"
	FamilyAuto   = "auto"
)

// DefaultModelID is what a non-Claude model name (gpt-4o, gemini-…, o3) maps
// to when ModelMap.Default is empty.
const DefaultModelID = "claude-sonnet-4.5"

// knownModel is one Kiro id of the exact table, with its parsed version.
type knownModel struct {
	id           string
	family       string
	major, minor int
}

// knownModels is the catalogue of §4.2 that kirotray maps onto, oldest first
// within each family. Non-Claude ids are accepted as they are (a user who
// names one means it) but are never the target of a Claude name.
var knownModels = []knownModel{
	{"claude-sonnet-4", FamilySonnet, 4, 0},
	{"claude-sonnet-4.5", FamilySonnet, 4, 5},
	{"claude-sonnet-4.6", FamilySonnet, 4, 6},
	{"claude-haiku-4.5", FamilyHaiku, 4, 5},
	{"claude-opus-4.5", FamilyOpus, 4, 5},
	{"claude-opus-4.6", FamilyOpus, 4, 6},
	{"claude-opus-4.7", FamilyOpus, 4, 7},
	{"claude-opus-4.8", FamilyOpus, 4, 8},
	{"auto", FamilyAuto, 0, 0},
	{"deepseek-3.2", "", 0, 0},
	{"glm-5", "", 0, 0},
	{"minimax-m2.1", "", 0, 0},
	{"minimax-m2.5", "", 0, 0},
	{"qwen3-coder-next", "", 0, 0},
}

// ModelMap maps client model names to Kiro models. The zero value is ready
// to use; it is a plain value, safe for concurrent use.
type ModelMap struct {
	// Default is the Kiro id for names that are not Claude models (gpt-*,
	// gemini-*, o3 …). Empty means DefaultModelID.
	Default string
}

// MapModel maps a client model name with the zero [ModelMap].
func MapModel(name string) Model { return ModelMap{}.Map(name) }

// Map returns the Kiro model for a client model name. It never fails:
//
//  1. The name is normalized (§4.3): lower case; provider prefixes
//     ("anthropic/", "us.anthropic.", "kiro-", "amazonq-") and suffixes
//     ("[1m]", "[200k]", "-1m", "-thinking", "-latest", "-agentic", an
//     8-digit date, "-v1:0") go; "claude-opus-4-6" becomes version 4.6 of
//     the opus family, as do "claude-opus-4.6" and the inverted
//     "claude-4.6-opus-high"; "claude-3-7-sonnet" is version 3.7 of sonnet.
//  2. An exact match in the table of Kiro ids wins.
//  3. Any other Claude name of a known family maps to the nearest known id of
//     that family: for a name newer than every known id (the case that
//     matters: Claude Code's default model changes each release, e.g.
//     "claude-opus-5-5") that is the family's newest id; for an older one
//     (claude-opus-4-1, claude-3-5-sonnet) the closest version, ties going to
//     the newer. Passing unknown names through (the "gateway, not
//     gatekeeper" rule of §4.3) was rejected: the backend answers
//     INVALID_MODEL_ID and the client's request fails.
//  4. A Claude name without a known family, and any other name, maps to
//     m.Default.
func (m ModelMap) Map(name string) Model {
	n, thinking := normalizeModelName(name)
	if km, ok := lookupKnown(n); ok {
		return makeModel(km, thinking)
	}
	if strings.HasPrefix(n, "claude") {
		if family, major, minor, ok := parseClaude(n); ok {
			return makeModel(nearestKnown(family, major, minor), thinking)
		}
	}
	def := m.Default
	if def == "" {
		def = DefaultModelID
	}
	if km, ok := lookupKnown(def); ok {
		return makeModel(km, thinking)
	}
	// A configured default outside the table: map it as a client name,
	// falling back to the built-in default (never recursing further).
	if d := (ModelMap{Default: DefaultModelID}).Map(def); d.ID != "" {
		d.Thinking = thinking
		return d
	}
	return Model{}
}

func makeModel(km knownModel, thinking bool) Model {
	return Model{ID: km.id, Window: ContextWindow(km.id), Family: km.family, Thinking: thinking}
}

func lookupKnown(id string) (knownModel, bool) {
	if id == "auto-kiro" { // KGW's alias: Cursor reserves "auto"
		id = "auto"
	}
	for _, km := range knownModels {
		if km.id == id {
			return km, true
		}
	}
	// "claude-opus-4-6", "claude-4.6-opus" and friends resolve through the
	// parsed form, so the table only needs canonical ids.
	if strings.HasPrefix(id, "claude") {
		if family, major, minor, ok := parseClaude(id); ok {
			for _, km := range knownModels {
				if km.family == family && km.major == major && km.minor == minor {
					return km, true
				}
			}
		}
	}
	return knownModel{}, false
}

// nearestKnown returns the known id of family closest to version
// major.minor; ties and version-less names (major < 0) go to the newest.
func nearestKnown(family string, major, minor int) knownModel {
	best, bestDist := -1, 0
	for i, km := range knownModels {
		if km.family != family {
			continue
		}
		dist := 0
		if major >= 0 {
			dist = abs((major*1000 + minor) - (km.major*1000 + km.minor))
		}
		if best < 0 || dist <= bestDist { // <=: the table is oldest first, so ties go newer
			best, bestDist = i, dist
		}
	}
	return knownModels[best] // parseClaude only reports families the table has
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ThinkingModelName reports whether a client model name asks for extended
// thinking ("claude-sonnet-4-5-thinking", "claude-opus-4-6-thinking[1m]"),
// by the same rule that sets Model.Thinking. A front end uses it to know
// that the answer will carry thinking tags to split.
func ThinkingModelName(name string) bool {
	_, thinking := normalizeModelName(name)
	return thinking
}

// normalizeModelName lower-cases name and strips everything that does not
// select a model (§4.3). thinking reports a "thinking" marker.
func normalizeModelName(name string) (n string, thinking bool) {
	n = strings.ToLower(strings.TrimSpace(name))
	if i := strings.IndexByte(n, '['); i >= 0 { // [1m], [200k]
		n = n[:i]
	}
	if i := strings.LastIndexByte(n, '/'); i >= 0 { // anthropic/claude-…
		n = n[i+1:]
	}
	if i := strings.Index(n, "anthropic."); i >= 0 { // us.anthropic.claude-… (Bedrock)
		n = n[i+len("anthropic."):]
	}
	for _, p := range []string{"kiro-", "amazonq-"} {
		n = strings.TrimPrefix(n, p)
	}
	if i := strings.IndexByte(n, ':'); i >= 0 { // -v1:0
		n = n[:i]
	}
	thinking = strings.Contains(n, "thinking")
	for {
		before := n
		for _, s := range []string{"-thinking", "-latest", "-agentic", "-1m"} {
			n = strings.TrimSuffix(n, s)
		}
		if i := strings.LastIndexByte(n, '-'); i >= 0 && isDate(n[i+1:]) {
			n = n[:i]
		}
		if i := strings.LastIndexByte(n, '-'); i >= 0 && isBedrockVersion(n[i+1:]) {
			n = n[:i]
		}
		if n == before {
			return n, thinking
		}
	}
}

func isDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isBedrockVersion matches the "v1" of Bedrock's "-v1:0" (the ":0" is gone).
func isBedrockVersion(s string) bool {
	return len(s) >= 2 && s[0] == 'v' && isDigits(s[1:])
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseClaude reads family and version out of a normalized Claude name:
// claude-opus-4-6, claude-opus-4.6, claude-4.6-opus-high, claude-3-7-sonnet,
// claude-opus-5, claude-sonnet. Version numbers after the family win over
// numbers before it; major is -1 when the name has none. Unknown words
// (high, fast, preview …) are ignored. ok is false without a known family.
func parseClaude(n string) (family string, major, minor int, ok bool) {
	var before, after []int
	seenFamily := false
	for i, tok := range strings.Split(n, "-") {
		if i == 0 {
			if tok != "claude" {
				return "", 0, 0, false
			}
			continue
		}
		switch tok {
		case FamilyOpus, FamilySonnet, FamilyHaiku:
			if !seenFamily {
				family, seenFamily = tok, true
			}
			continue
		}
		nums, isNum := versionParts(tok)
		if !isNum {
			continue
		}
		if seenFamily {
			after = append(after, nums...)
		} else {
			before = append(before, nums...)
		}
	}
	if !seenFamily {
		return "", 0, 0, false
	}
	v := after
	if len(v) == 0 {
		v = before
	}
	switch len(v) {
	case 0:
		return family, -1, 0, true
	case 1:
		return family, v[0], 0, true
	default:
		return family, v[0], v[1], true
	}
}

// versionParts parses "4", "4.6" (or "4.6.1": only two parts count).
// Numbers of more than three digits are not versions.
func versionParts(tok string) ([]int, bool) {
	var out []int
	for p := range strings.SplitSeq(tok, ".") {
		if len(p) == 0 || len(p) > 3 || !isDigits(p) {
			return nil, false
		}
		v, _ := strconv.Atoi(p)
		out = append(out, v)
	}
	return out, true
}

// ContextWindow returns the context window, in tokens, of a Kiro model id
// (§4.4). Where the sources disagree the newest (KRS) wins: Opus 4.6 and
// later and Sonnet 4.6 have 1M tokens; Opus 4.5, Sonnet 4.5, Sonnet 4, Haiku
// 4.5 and anything unknown 200k. A live catalogue's maxInputTokens, when
// known, is better than this table.
func ContextWindow(id string) int {
	switch id {
	case "claude-opus-4.6", "claude-opus-4.7", "claude-opus-4.8", "claude-sonnet-4.6":
		return 1_000_000
	}
	return 200_000
}
