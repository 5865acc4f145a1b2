package clientsetup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// The JSON editor changes a document in place: it finds the byte spans of
// the members it touches and splices new text in, so every other byte (key
// order, spacing, number spelling, a several-MB ~/.claude.json) stays as it
// was. It only runs on documents json.Valid accepts, which keeps the
// scanner below free of error paths.

var bom = []byte("\xef\xbb\xbf")

// jsonDoc is a JSON object document being edited.
type jsonDoc struct {
	name string // file name for errors
	bom  bool   // the file began with a UTF-8 byte order mark; kept on write
	data []byte // without the mark
}

// parseJSONDoc checks that data is a JSON object (empty or blank counts as
// {}). Errors name the file and line, never quote its content.
func parseJSONDoc(name string, data []byte) (*jsonDoc, error) {
	d := &jsonDoc{name: name}
	if bytes.HasPrefix(data, bom) {
		d.bom, data = true, data[len(bom):]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		d.data = []byte("{}\n")
		return d, nil
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return nil, fmt.Errorf("clientsetup: %s:%d: not valid JSON (%s); fix or remove the file first", name, line, se.Error())
		}
		return nil, fmt.Errorf("clientsetup: %s: not valid JSON; fix or remove the file first", name)
	}
	if data[skipWS(data, 0)] != '{' {
		return nil, fmt.Errorf("clientsetup: %s: want a JSON object at the top level", name)
	}
	d.data = data
	return d, nil
}

func (d *jsonDoc) bytes() []byte {
	if d.bom {
		return append(append([]byte{}, bom...), d.data...)
	}
	return d.data
}

type jsonMember struct {
	name             string
	keyStart, keyEnd int // the quoted key
	valStart, valEnd int // the value
}

type jsonObject struct {
	open, close int // offsets of '{' and '}'
	members     []jsonMember
}

// find returns the index of the last member called name (the one a JSON
// parser keeps), or -1.
func (o *jsonObject) find(name string) int {
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].name == name {
			return i
		}
	}
	return -1
}

func (d *jsonDoc) root() jsonObject { return scanObject(d.data, skipWS(d.data, 0)) }

// lookup walks path from the root and returns the object holding the last
// element, or found=false when an intermediate object is missing (parent is
// then the deepest object found and depth how many path elements it covers).
func (d *jsonDoc) lookup(path []string) (parent jsonObject, depth int, err error) {
	o := d.root()
	for i, name := range path[:len(path)-1] {
		k := o.find(name)
		if k < 0 {
			return o, i, nil
		}
		m := o.members[k]
		if d.data[m.valStart] != '{' {
			return o, i, fmt.Errorf("clientsetup: %s: %q is not a JSON object", d.name, strings.Join(path[:i+1], "."))
		}
		o = scanObject(d.data, m.valStart)
	}
	return o, len(path) - 1, nil
}

// get returns the raw value at path, or nil.
func (d *jsonDoc) get(path []string) json.RawMessage {
	o, depth, err := d.lookup(path)
	if err != nil || depth < len(path)-1 {
		return nil
	}
	k := o.find(path[len(path)-1])
	if k < 0 {
		return nil
	}
	m := o.members[k]
	return json.RawMessage(d.data[m.valStart:m.valEnd])
}

// set makes path hold value (JSON text), creating intermediate objects.
// It reports whether the document changed.
func (d *jsonDoc) set(path []string, value []byte) (bool, error) {
	o, depth, err := d.lookup(path)
	if err != nil {
		return false, err
	}
	if depth == len(path)-1 {
		if k := o.find(path[depth]); k >= 0 {
			m := o.members[k]
			old := d.data[m.valStart:m.valEnd]
			if sameJSON(old, value) {
				return false, nil
			}
			d.splice(m.valStart, m.valEnd, value)
			return true, nil
		}
	}
	// Insert path[depth] into o, nesting the rest as new objects.
	sep, colon := d.memberLayout(o)
	unit := d.indentUnit()
	val := value
	for i := len(path) - 1; i > depth; i-- {
		inner := sep + strings.Repeat(unit, i-depth)
		outer := sep + strings.Repeat(unit, i-depth-1)
		if !strings.Contains(sep, "\n") {
			inner, outer = "", ""
		}
		val = []byte("{" + inner + quoteJSON(path[i]) + colon + string(val) + outer + "}")
	}
	member := quoteJSON(path[depth]) + colon + string(val)
	if len(o.members) > 0 {
		last := o.members[len(o.members)-1]
		d.splice(last.valEnd, last.valEnd, []byte(","+sep+member))
		return true, nil
	}
	closing := ""
	if strings.Contains(sep, "\n") {
		closing = d.newline() + indentOf(d.data, o.open)
	}
	d.splice(o.open+1, o.close, []byte(sep+member+closing))
	return true, nil
}

// delete removes every member at path and reports whether there was one.
func (d *jsonDoc) delete(path []string) (bool, error) {
	changed := false
	for {
		o, depth, err := d.lookup(path)
		if err != nil || depth < len(path)-1 {
			return changed, err
		}
		k := o.find(path[depth])
		if k < 0 {
			return changed, nil
		}
		ms := o.members
		switch {
		case len(ms) == 1:
			d.splice(o.open+1, o.close, nil)
		case k > 0:
			d.splice(ms[k-1].valEnd, ms[k].valEnd, nil)
		default:
			d.splice(ms[0].keyStart, ms[1].keyStart, nil)
		}
		changed = true
	}
}

func (d *jsonDoc) splice(start, end int, text []byte) {
	out := make([]byte, 0, len(d.data)-(end-start)+len(text))
	out = append(out, d.data[:start]...)
	out = append(out, text...)
	d.data = append(out, d.data[end:]...)
}

func (d *jsonDoc) newline() string {
	if bytes.Contains(d.data, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// memberLayout returns the whitespace that goes before a member of o and
// the key/value separator, copied from o's last member, else derived from
// o's position (a multi-line layout unless the whole document is on one line).
func (d *jsonDoc) memberLayout(o jsonObject) (sep, colon string) {
	colon = ": "
	if n := len(o.members); n > 0 {
		m := o.members[n-1]
		colon = string(d.data[m.keyEnd:m.valStart])
		return string(d.data[wsBefore(d.data, m.keyStart):m.keyStart]), colon
	}
	root := d.root()
	if n := len(root.members); n > 0 && o.open != root.open {
		m := root.members[n-1]
		colon = string(d.data[m.keyEnd:m.valStart])
		if s := string(d.data[wsBefore(d.data, m.keyStart):m.keyStart]); !strings.Contains(s, "\n") {
			return s, colon
		}
	}
	return d.newline() + indentOf(d.data, o.open) + d.indentUnit(), colon
}

// indentUnit is the indentation of the root's members, "  " if none.
func (d *jsonDoc) indentUnit() string {
	root := d.root()
	if len(root.members) > 0 {
		k := root.members[0].keyStart
		ws := string(d.data[wsBefore(d.data, k):k])
		if i := strings.LastIndexByte(ws, '\n'); i >= 0 && i < len(ws)-1 {
			return ws[i+1:]
		}
	}
	return "  "
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// quoteJSON encodes s as a JSON string without escaping <, > and &.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// scanObject reads the object starting at data[open] == '{' of a valid
// JSON document.
func scanObject(data []byte, open int) jsonObject {
	o := jsonObject{open: open}
	i := skipWS(data, open+1)
	if data[i] == '}' {
		o.close = i
		return o
	}
	for {
		ks := i
		ke := skipString(data, ks)
		vs := skipWS(data, skipWS(data, ke)+1) // past the ':'
		ve := skipValue(data, vs)
		o.members = append(o.members, jsonMember{name: decodeKey(data[ks:ke]), keyStart: ks, keyEnd: ke, valStart: vs, valEnd: ve})
		i = skipWS(data, ve)
		if data[i] != ',' {
			o.close = i
			return o
		}
		i = skipWS(data, i+1)
	}
}

func decodeKey(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid by construction
	return s
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(data []byte, i int) int {
	for i < len(data) && isWS(data[i]) {
		i++
	}
	return i
}

// wsBefore returns the start of the whitespace run that ends at i.
func wsBefore(data []byte, i int) int {
	for i > 0 && isWS(data[i-1]) {
		i--
	}
	return i
}

// indentOf returns the leading blanks of the line holding offset i.
func indentOf(data []byte, i int) string {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	end := start
	for end < len(data) && (data[end] == ' ' || data[end] == '\t') {
		end++
	}
	return string(data[start:end])
}

// skipString returns the offset after the string starting at data[i] == '"'.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// skipValue returns the offset after the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) && !isWS(data[j]) && data[j] != ',' && data[j] != '}' && data[j] != ']' {
		j++
	}
	return j
}
