package kiro

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
)

// Tool limits (§3.5).
const (
	// maxToolName is the longest tool name sent. Bedrock allows 64; KRS caps
	// at 63 after upstream errors with 64, and 63 costs nothing.
	maxToolName = 63
	// shortPrefix + "_" + shortHash hex digits = maxToolName.
	shortPrefix = 54
	shortHash   = 8
	// maxToolDescription is in characters (runes), as KRS, K2A and KGW count it.
	maxToolDescription = 10_000
	// historyToolDescription describes a tool that appears in history but
	// was not declared (§3.3 rule 10).
	historyToolDescription = "Tool used in conversation history"
)

// defaultSchema is the permissive schema of placeholder tools and the
// replacement for a schema that is not a JSON object.
var defaultSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toolNames shortens tool names that Kiro would refuse and remembers the
// way back. Its zero value is ready; it is used by one build only.
type toolNames struct {
	short map[string]string // short → original, only names that changed
	long  map[string]string // original → short, same entries
}

// get returns the name to send for a client tool name: the name itself when
// it is 1–63 characters of [A-Za-z0-9_-], else a deterministic replacement:
// the name with other characters turned into '_', cut to 54 characters, then
// "_" and the first 8 hex digits of the original name's SHA-256.
func (n *toolNames) get(orig string) string {
	if validToolName(orig) {
		return orig
	}
	if s, ok := n.long[orig]; ok {
		return s
	}
	s := shortenToolName(orig)
	if n.short == nil {
		n.short = make(map[string]string)
		n.long = make(map[string]string)
	}
	n.short[s] = orig
	n.long[orig] = s
	return s
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > maxToolName {
		return false
	}
	for i := range len(s) {
		if !toolNameByte(s[i]) {
			return false
		}
	}
	return true
}

func toolNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func shortenToolName(orig string) string {
	sum := sha256.Sum256([]byte(orig))
	b := make([]byte, 0, maxToolName)
	for i := 0; i < len(orig) && len(b) < shortPrefix; i++ {
		if c := orig[i]; toolNameByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	b = append(b, '_')
	b = hex.AppendEncode(b, sum[:shortHash/2])
	return string(b)
}

// toolDescription returns the description to send: empty becomes
// "Tool: <name>" (KGW; an empty description is refused), longer than 10 000
// characters is cut with "..." (KRS, K2A).
func toolDescription(name, desc string) string {
	if strings.TrimSpace(desc) == "" {
		return "Tool: " + name
	}
	if len(desc) <= maxToolDescription { // bytes ≥ runes: surely short enough
		return desc
	}
	if utf8.RuneCountInString(desc) <= maxToolDescription {
		return desc
	}
	cut, runes := 0, 0
	for i := range desc {
		if runes == maxToolDescription-3 {
			cut = i
			break
		}
		runes++
	}
	return desc[:cut] + "..."
}

// spec is one tool as it is sent.
type spec struct {
	name    string // as sent (shortened if needed)
	desc    string
	schema  json.RawMessage
	encoded []byte // the "tools" entry: {"toolSpecification":{…}}
}

func newSpec(name, desc string, schema json.RawMessage) spec {
	return spec{name: name, desc: desc, schema: schema, encoded: appendToolSpec(nil, name, desc, schema)}
}

// buildTools returns the tools to declare: names shortened, descriptions
// fixed, schemas sanitized; tools without a name and case-insensitive
// duplicates (Kiro matches names case-insensitively) are dropped.
func buildTools(tools []conv.Tool, names *toolNames) []spec {
	if len(tools) == 0 {
		return nil
	}
	out := make([]spec, 0, len(tools))
	for i := range tools {
		t := &tools[i]
		if t.Name == "" {
			continue
		}
		name := names.get(t.Name)
		if declared(out, name) {
			continue
		}
		out = append(out, cachedSpec(t, name))
	}
	return out
}

func declared(specs []spec, name string) bool {
	for i := range specs {
		if strings.EqualFold(specs[i].name, name) {
			return true
		}
	}
	return false
}

// declareHistoryTools adds a placeholder for every tool name used in turns
// but not declared (§3.3 rule 10): the backend refuses history that calls
// undeclared tools.
func declareHistoryTools(specs []spec, turns []turn) []spec {
	for i := range turns {
		for _, u := range turns[i].uses {
			if !declared(specs, u.name) {
				specs = append(specs, newSpec(u.name, historyToolDescription, defaultSchema))
			}
		}
	}
	return specs
}

// toolCache memoizes finished tool specs: clients send the same tools with
// every request of a session, so after the first request a tool costs a
// comparison instead of a schema parse and an escape pass over its
// description. Entries are never modified once stored.
var toolCache = struct {
	sync.Mutex
	m map[toolKey]*toolEntry
}{m: make(map[toolKey]*toolEntry)}

// toolKey finds a cached tool cheaply; a hit is then compared in full.
type toolKey struct {
	name               string
	descLen, schemaLen int
}

// toolCacheMax bounds the cache; when full it is emptied (a session's tools
// come back on the next request).
const toolCacheMax = 256

var cacheSeed = maphash.MakeSeed()

// toolEntry is a cached spec with the client's tool it was made from.
type toolEntry struct {
	name, desc, schema string
	spec               spec
}

func cachedSpec(t *conv.Tool, sentName string) spec {
	key := toolKey{t.Name, len(t.Description), len(t.Schema)}
	toolCache.Lock()
	e := toolCache.m[key]
	toolCache.Unlock()
	if e != nil && e.name == t.Name && e.desc == t.Description && e.schema == string(t.Schema) {
		return e.spec
	}
	e = &toolEntry{name: t.Name, desc: t.Description, schema: string(t.Schema),
		spec: newSpec(sentName, toolDescription(t.Name, t.Description), sanitizeSchema(t.Schema))}
	toolCache.Lock()
	if len(toolCache.m) >= toolCacheMax {
		clear(toolCache.m)
	}
	toolCache.m[key] = e
	toolCache.Unlock()
	return e.spec
}

// sanitizeSchema returns a schema Kiro accepts (§3.6). It repairs types the
// way KRS does and forces an object root, and otherwise keeps the client's
// bytes (only compacted): see repairSchema.
func sanitizeSchema(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return defaultSchema
	}
	return sanitizeSchemaSlow(raw)
}

func sanitizeSchemaSlow(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as sent
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return defaultSchema
	}
	root, ok := v.(map[string]any)
	if !ok {
		return defaultSchema
	}
	if !repairSchema(root, true, 0) {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return buf.Bytes()
		}
	}
	b, err := marshalNoEscape(root)
	if err != nil {
		return defaultSchema
	}
	return b
}

// maxSchemaDepth bounds the recursion of repairSchema; deeper parts are kept
// as they are.
const maxSchemaDepth = 64

// repairSchema fixes what the backend rejects and reports whether it changed
// anything. At the root: "type" becomes "object" whatever it was, and
// "properties" must be an object (added when missing or null). Everywhere:
// a "type" that is not a non-empty string (or list of strings) is removed;
// "properties" that is not an object is removed below the root; "required"
// keeps only its strings and is removed when it is not a list;
// "additionalProperties" that is neither a bool nor an object is removed.
// Removing rather than inventing values (KRS writes required: [] and
// additionalProperties: true, which KGW reports as rejected) satisfies both
// schools of §3.6. Nested schemas are reached through properties, items,
// additionalProperties, anyOf/oneOf/allOf, not, $defs and definitions.
func repairSchema(s map[string]any, root bool, depth int) bool {
	if depth > maxSchemaDepth {
		return false
	}
	changed := false
	if root {
		if t, _ := s["type"].(string); t != "object" {
			s["type"] = "object"
			changed = true
		}
		if _, ok := s["properties"].(map[string]any); !ok {
			s["properties"] = map[string]any{}
			changed = true
		}
	} else if t, ok := s["type"]; ok && !validType(t) {
		delete(s, "type")
		changed = true
	}
	if p, ok := s["properties"]; ok {
		if pm, isMap := p.(map[string]any); isMap {
			for k, sub := range pm {
				switch sub := sub.(type) {
				case map[string]any:
					changed = repairSchema(sub, false, depth+1) || changed
				case bool: // boolean schemas are valid
				default:
					pm[k] = map[string]any{}
					changed = true
				}
			}
		} else {
			delete(s, "properties")
			changed = true
		}
	}
	if r, ok := s["required"]; ok {
		list, isList := r.([]any)
		if !isList {
			delete(s, "required")
			changed = true
		} else {
			kept := list[:0:0]
			for _, x := range list {
				if str, isStr := x.(string); isStr {
					kept = append(kept, str)
				}
			}
			if len(kept) != len(list) {
				s["required"] = kept
				changed = true
			}
		}
	}
	if a, ok := s["additionalProperties"]; ok {
		switch a := a.(type) {
		case bool:
		case map[string]any:
			changed = repairSchema(a, false, depth+1) || changed
		default:
			delete(s, "additionalProperties")
			changed = true
		}
	}
	for _, key := range []string{"items", "not"} {
		if sub, ok := s[key].(map[string]any); ok {
			changed = repairSchema(sub, false, depth+1) || changed
		}
	}
	if items, ok := s["items"].([]any); ok { // tuple form
		changed = repairList(items, depth) || changed
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		if list, ok := s[key].([]any); ok {
			changed = repairList(list, depth) || changed
		}
	}
	for _, key := range []string{"$defs", "definitions"} {
		if defs, ok := s[key].(map[string]any); ok {
			for _, sub := range defs {
				if sm, ok := sub.(map[string]any); ok {
					changed = repairSchema(sm, false, depth+1) || changed
				}
			}
		}
	}
	return changed
}

func repairList(list []any, depth int) bool {
	changed := false
	for _, x := range list {
		if sm, ok := x.(map[string]any); ok {
			changed = repairSchema(sm, false, depth+1) || changed
		}
	}
	return changed
}

func validType(t any) bool {
	switch t := t.(type) {
	case string:
		return t != ""
	case []any:
		if len(t) == 0 {
			return false
		}
		for _, x := range t {
			if s, ok := x.(string); !ok || s == "" {
				return false
			}
		}
		return true
	}
	return false
}

// marshalNoEscape is json.Marshal without HTML escaping (<, >, & stay as
// they are: they are common in prompts and code, and escaping bloats them).
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// validInputs remembers (by hash) tool inputs already checked to be JSON
// objects: history is resent with every request, and validating a large
// Write input costs far more than hashing it. A hash collision could only
// let an invalid input through, which Kiro would refuse; at 64 bits that is
// not a practical concern.
var validInputs = struct {
	sync.Mutex
	m map[uint64]struct{}
}{m: make(map[uint64]struct{})}

const validInputsMax = 8192

// normalizeInput returns a tool call's input as a JSON object: empty or null
// becomes {}, another JSON value v becomes {"input": v}, and text that is not
// JSON at all becomes {"input": "<text>"}. Kiro requires an object.
func normalizeInput(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return json.RawMessage("{}")
	}
	if trimmed[0] == '{' {
		key := maphash.Bytes(cacheSeed, trimmed)
		validInputs.Lock()
		_, ok := validInputs.m[key]
		validInputs.Unlock()
		if ok {
			return trimmed
		}
		if json.Valid(trimmed) {
			validInputs.Lock()
			if len(validInputs.m) >= validInputsMax {
				clear(validInputs.m)
			}
			validInputs.m[key] = struct{}{}
			validInputs.Unlock()
			return trimmed
		}
	} else if json.Valid(trimmed) {
		b := make([]byte, 0, len(trimmed)+10)
		b = append(b, `{"input":`...)
		b = append(b, trimmed...)
		return append(b, '}')
	}
	b, err := marshalNoEscape(map[string]string{"input": string(raw)})
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}
