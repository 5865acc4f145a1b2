package clientsetup

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The TOML editor works on text, not on a decoded document, so that every
// line it does not own stays byte-identical: comments, ordering, spacing.
// It splits the file into statements (a table header, a key = value that
// may span lines, or a blank/comment line) and replaces or inserts whole
// statements.

type stmtKind int

const (
	stmtBlank      stmtKind = iota // empty or comment-only line
	stmtTable                      // [a.b]
	stmtArrayTable                 // [[a.b]]
	stmtKeyValue                   // a.b = value
)

type tomlStmt struct {
	kind       stmtKind
	path       []string // the header's or the key's dotted path
	start, end int      // byte span, end past the line break (or at EOF)
}

// errTOML is wrapped by every error about a file the editor cannot read.
var errTOML = errors.New("cannot edit this TOML")

func tomlError(src []byte, at int, msg string) error {
	line := 1 + bytes.Count(src[:min(at, len(src))], []byte("\n"))
	return fmt.Errorf("line %d: %s: %w", line, msg, errTOML)
}

// parseStatements splits src into statements.
func parseStatements(src []byte) ([]tomlStmt, error) {
	for i, c := range src {
		if c == '\r' && (i+1 >= len(src) || src[i+1] != '\n') {
			return nil, tomlError(src, i, "carriage return without a line feed")
		}
	}
	var out []tomlStmt
	for i := 0; i < len(src); {
		start := i
		i = skipBlanks(src, i)
		switch {
		case i >= len(src) || src[i] == '\n' || src[i] == '#' || (src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n'):
			end := lineEnd(src, i)
			out = append(out, tomlStmt{kind: stmtBlank, start: start, end: end})
			i = end
		case src[i] == '[':
			kind, closer := stmtTable, "]"
			i++
			if i < len(src) && src[i] == '[' {
				kind, closer = stmtArrayTable, "]]"
				i++
			}
			path, j, err := parseKey(src, i)
			if err != nil {
				return nil, err
			}
			j = skipBlanks(src, j)
			if !bytes.HasPrefix(src[j:], []byte(closer)) {
				return nil, tomlError(src, j, "table header not closed")
			}
			j, err = restOfLine(src, j+len(closer))
			if err != nil {
				return nil, err
			}
			out = append(out, tomlStmt{kind: kind, path: path, start: start, end: j})
			i = j
		default:
			path, j, err := parseKey(src, i)
			if err != nil {
				return nil, err
			}
			j = skipBlanks(src, j)
			if j >= len(src) || src[j] != '=' {
				return nil, tomlError(src, j, "want key = value")
			}
			j, err = scanValue(src, j+1)
			if err != nil {
				return nil, err
			}
			out = append(out, tomlStmt{kind: stmtKeyValue, path: path, start: start, end: j})
			i = j
		}
	}
	return out, nil
}

func skipBlanks(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return i
}

// lineEnd returns the offset past the line break at or after i, or len(src).
func lineEnd(src []byte, i int) int {
	if k := bytes.IndexByte(src[i:], '\n'); k >= 0 {
		return i + k + 1
	}
	return len(src)
}

// restOfLine accepts blanks and a comment up to the end of the line.
func restOfLine(src []byte, i int) (int, error) {
	i = skipBlanks(src, i)
	switch {
	case i >= len(src):
		return i, nil
	case src[i] == '#' || src[i] == '\n' || (src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n'):
		return lineEnd(src, i), nil
	}
	return 0, tomlError(src, i, "unexpected text after a table header")
}

// parseKey reads a dotted key (bare, "basic" or 'literal' parts).
func parseKey(src []byte, i int) ([]string, int, error) {
	var path []string
	for {
		i = skipBlanks(src, i)
		if i >= len(src) {
			return nil, i, tomlError(src, i, "key expected")
		}
		switch c := src[i]; {
		case c == '"':
			s, j, err := parseBasicString(src, i)
			if err != nil {
				return nil, j, err
			}
			path, i = append(path, s), j
		case c == '\'':
			k := bytes.IndexAny(src[i+1:], "'\n")
			if k < 0 || src[i+1+k] != '\'' {
				return nil, i, tomlError(src, i, "literal key not closed")
			}
			path, i = append(path, string(src[i+1:i+1+k])), i+k+2
		default:
			j := i
			for j < len(src) && isBareKeyChar(src[j]) {
				j++
			}
			if j == i {
				return nil, i, tomlError(src, i, "key expected")
			}
			path, i = append(path, string(src[i:j])), j
		}
		i = skipBlanks(src, i)
		if i >= len(src) || src[i] != '.' {
			return path, i, nil
		}
		i++
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// parseBasicString decodes the one-line "…" string at src[i].
func parseBasicString(src []byte, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; c {
		case '"':
			return b.String(), j + 1, nil
		case '\n':
			return "", j, tomlError(src, j, "string not closed")
		case '\\':
			if j+1 >= len(src) {
				return "", j, tomlError(src, j, "string not closed")
			}
			j++
			switch e := src[j]; e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\':
				b.WriteByte(e)
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if j+n >= len(src) {
					return "", j, tomlError(src, j, "bad escape")
				}
				r, err := strconv.ParseUint(string(src[j+1:j+1+n]), 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", j, tomlError(src, j, "bad escape")
				}
				b.WriteRune(rune(r))
				j += n
			default:
				return "", j, tomlError(src, j, "bad escape")
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", len(src), tomlError(src, i, "string not closed")
}

// scanValue returns the end of the statement whose value starts at src[i]:
// past the line break that is outside any string, array or inline table.
func scanValue(src []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(src); {
		switch c := src[j]; {
		case c == '\n':
			if depth == 0 {
				return j + 1, nil
			}
			j++
		case c == '#':
			k := bytes.IndexByte(src[j:], '\n')
			if k < 0 {
				j = len(src)
			} else {
				j += k
			}
		case bytes.HasPrefix(src[j:], []byte(`"""`)), bytes.HasPrefix(src[j:], []byte(`'''`)):
			end, err := skipMultiline(src, j)
			if err != nil {
				return 0, err
			}
			j = end
		case c == '"':
			_, end, err := parseBasicString(src, j)
			if err != nil {
				return 0, err
			}
			j = end
		case c == '\'':
			k := bytes.IndexAny(src[j+1:], "'\n")
			if k < 0 || src[j+1+k] != '\'' {
				return 0, tomlError(src, j, "string not closed")
			}
			j += k + 2
		case c == '[' || c == '{':
			depth++
			j++
		case c == ']' || c == '}':
			if depth--; depth < 0 {
				return 0, tomlError(src, j, "unbalanced brackets")
			}
			j++
		default:
			j++
		}
	}
	if depth != 0 {
		return 0, tomlError(src, len(src), "unclosed array or inline table")
	}
	return len(src), nil
}

// skipMultiline returns the offset past the """…""" or ”'…”' string at src[i].
func skipMultiline(src []byte, i int) (int, error) {
	delim := src[i : i+3]
	for j := i + 3; j < len(src); j++ {
		if delim[0] == '"' && src[j] == '\\' {
			j++
			continue
		}
		if bytes.HasPrefix(src[j:], delim) {
			j += 3
			for extra := 0; extra < 2 && j < len(src) && src[j] == delim[0]; extra++ {
				j++ // up to two quotes may end the content
			}
			return j, nil
		}
	}
	return 0, tomlError(src, i, "multi-line string not closed")
}

// tomlKV is one key = value line; Value is TOML text.
type tomlKV struct{ Key, Value string }

// tomlEdit describes what to change in a TOML file.
type tomlEdit struct {
	Set     []tomlKV // top-level keys: replaced in place or inserted
	Default []tomlKV // top-level keys inserted only when absent
	Table   []string // a table replaced whole or appended
	Body    []tomlKV // the table's keys
}

// apply returns src edited, and one line per change for a person to read.
// Every statement it does not own is kept byte for byte.
func (e tomlEdit) apply(src []byte) ([]byte, []string, error) {
	hasBOM := bytes.HasPrefix(src, bom)
	if hasBOM {
		src = src[len(bom):]
	}
	stmts, err := parseStatements(src)
	if err != nil {
		return nil, nil, err
	}
	if err := e.check(src, stmts); err != nil {
		return nil, nil, err
	}
	nl := "\n"
	if bytes.Contains(src, []byte("\r\n")) {
		nl = "\r\n"
	}
	var notes []string

	// Pass 1: top-level keys, which live before the first table header.
	top := stmts
	if k := slices.IndexFunc(stmts, func(s tomlStmt) bool { return s.kind == stmtTable || s.kind == stmtArrayTable }); k >= 0 {
		top = stmts[:k]
	}
	findTop := func(key string) int {
		return slices.IndexFunc(top, func(s tomlStmt) bool {
			return s.kind == stmtKeyValue && len(s.path) == 1 && s.path[0] == key
		})
	}
	type splice struct {
		start, end int
		text       string
	}
	var splices []splice
	var insert strings.Builder
	replaced := map[int]bool{} // ends of replaced statements, which now end in a line break
	for _, kv := range e.Set {
		line := kv.Key + " = " + kv.Value
		if k := findTop(kv.Key); k >= 0 {
			old := strings.TrimRight(string(src[top[k].start:top[k].end]), "\r\n")
			if old != line {
				splices = append(splices, splice{top[k].start, top[k].end, line + nl})
				replaced[top[k].end] = true
				notes = append(notes, fmt.Sprintf("set %s (was %s)", line, strings.TrimSpace(old[strings.IndexByte(old, '=')+1:])))
			}
			continue
		}
		insert.WriteString(line + nl)
		notes = append(notes, "add "+line)
	}
	for _, kv := range e.Default {
		if findTop(kv.Key) < 0 {
			line := kv.Key + " = " + kv.Value
			insert.WriteString(line + nl)
			notes = append(notes, "add "+line)
		}
	}
	if insert.Len() > 0 {
		at, text := 0, insert.String()
		if k := lastIndexFunc(top, func(s tomlStmt) bool { return s.kind == stmtKeyValue }); k >= 0 {
			at = top[k].end
			if !bytes.HasSuffix(src[:at], []byte("\n")) && !replaced[at] {
				text = nl + text
			}
		} else if len(stmts) > 0 && stmts[0].kind != stmtBlank {
			text += nl // keep a blank line before the first table
		}
		splices = append(splices, splice{at, at, text})
	}
	slices.SortStableFunc(splices, func(a, b splice) int { return a.start - b.start })
	var out []byte
	prev := 0
	for _, s := range splices {
		out = append(out, src[prev:s.start]...)
		out = append(out, s.text...)
		prev = s.end
	}
	out = append(out, src[prev:]...)

	// Pass 2: the table, on the text pass 1 produced.
	if len(e.Table) > 0 {
		stmts, err = parseStatements(out)
		if err != nil {
			return nil, nil, err // cannot happen: pass 1 only adds key lines
		}
		var body strings.Builder
		for _, kv := range e.Body {
			body.WriteString(kv.Key + " = " + kv.Value + nl)
		}
		name := "[" + formatKey(e.Table) + "]"
		if k := slices.IndexFunc(stmts, func(s tomlStmt) bool { return s.kind == stmtTable && slices.Equal(s.path, e.Table) }); k >= 0 {
			header := string(out[stmts[k].start:stmts[k].end]) // kept as written, comment and all
			if !strings.HasSuffix(header, "\n") {
				header += nl
			}
			end := stmts[k].end
			for _, s := range stmts[k+1:] {
				if s.kind == stmtTable || s.kind == stmtArrayTable {
					break
				}
				if s.kind == stmtKeyValue {
					end = s.end // trailing blank and comment lines stay
				}
			}
			text := header + body.String()
			if string(out[stmts[k].start:end]) != text {
				out = slices.Concat(out[:stmts[k].start], []byte(text), out[end:])
				notes = append(notes, "replace the "+name+" table")
			}
		} else {
			var prefix string
			switch {
			case len(out) == 0:
			case !bytes.HasSuffix(out, []byte("\n")):
				prefix = nl + nl
			case !bytes.HasSuffix(out, []byte("\n"+nl)) && !bytes.Equal(out, []byte(nl)):
				prefix = nl
			}
			out = slices.Concat(out, []byte(prefix+name+nl+body.String()))
			notes = append(notes, "add the "+name+" table")
		}
	}
	if hasBOM {
		out = append(append([]byte{}, bom...), out...)
	}
	return out, notes, nil
}

// check refuses files where the keys or table to write are already defined
// in a form this editor does not replace (dotted keys, inline tables, an
// array of tables, a duplicate header), since adding ours would make the
// file invalid.
func (e tomlEdit) check(src []byte, stmts []tomlStmt) error {
	scalar := map[string]bool{}
	for _, kv := range slices.Concat(e.Set, e.Default) {
		scalar[kv.Key] = true
	}
	body := map[string]bool{}
	for _, kv := range e.Body {
		body[kv.Key] = true
	}
	var cur []string
	headers := 0
	name := formatKey(e.Table)
	for _, s := range stmts {
		switch s.kind {
		case stmtTable, stmtArrayTable:
			cur = s.path
			if scalar[s.path[0]] {
				return tomlError(src, s.start, fmt.Sprintf("%s is a table here, kirotray sets it as a value", s.path[0]))
			}
			if len(e.Table) == 0 {
				continue
			}
			if s.kind == stmtArrayTable && hasPrefix(e.Table, s.path) {
				return tomlError(src, s.start, "an array of tables where kirotray needs ["+name+"]")
			}
			if hasPrefix(s.path, e.Table) && len(s.path) > len(e.Table) && body[s.path[len(e.Table)]] {
				return tomlError(src, s.start, "a sub-table clashes with a key kirotray writes in ["+name+"]")
			}
			if s.kind == stmtTable && slices.Equal(s.path, e.Table) {
				if headers++; headers > 1 {
					return tomlError(src, s.start, "["+name+"] is defined twice")
				}
			}
		case stmtKeyValue:
			full := slices.Concat(cur, s.path)
			if len(cur) == 0 && len(s.path) > 1 && scalar[s.path[0]] {
				return tomlError(src, s.start, fmt.Sprintf("%s is a table here, kirotray sets it as a value", s.path[0]))
			}
			if len(e.Table) == 0 || (len(cur) > 0 && hasPrefix(cur, e.Table)) {
				continue
			}
			if hasPrefix(full, e.Table) || hasPrefix(e.Table, full) {
				return tomlError(src, s.start, name+" is defined with dotted keys or an inline table; edit it by hand")
			}
		}
	}
	return nil
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

func lastIndexFunc[T any](s []T, f func(T) bool) int {
	for i := len(s) - 1; i >= 0; i-- {
		if f(s[i]) {
			return i
		}
	}
	return -1
}

// formatKey writes a dotted key, quoting parts that are not bare.
func formatKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = p
		if p == "" || strings.IndexFunc(p, func(r rune) bool { return r > 0x7f || !isBareKeyChar(byte(r)) }) >= 0 {
			parts[i] = quoteTOML(p)
		}
	}
	return strings.Join(parts, ".")
}

// quoteTOML writes s as a TOML basic string.
func quoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				fmt.Fprintf(&b, `\u%04X`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
