package anthropic

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// scanner reads a JSON document in one pass, straight into the request types.
// encoding/json would validate the whole body once, then scan it again to
// decode, and again for every json.RawMessage and custom unmarshaler; on a
// 100 KB Claude Code body that alone is over a millisecond. The scanner
// validates as it goes, captures tool inputs and schemas as sub-slices of the
// body (no copy), and reports syntax errors with their byte offset.
type scanner struct {
	data  []byte
	pos   int
	depth int
	arena []byte // decoded strings, appended and never overwritten
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 1000

// syntaxErr returns the error for malformed JSON at the current position.
func (s *scanner) syntaxErr(format string, args ...any) error {
	return &RequestError{Offset: s.pos, msg: fmt.Sprintf(format, args...)}
}

// unexpected describes the byte at the current position.
func (s *scanner) unexpected(context string) error {
	if s.pos >= len(s.data) {
		return s.syntaxErr("unexpected end of input %s", context)
	}
	return s.syntaxErr("unexpected character %s %s", quoteByte(s.data[s.pos]), context)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

// ws skips whitespace and returns the next byte, or 0 at the end.
func (s *scanner) ws() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// kind names the JSON type of the value starting with c, for type errors.
func kind(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// typeErr reports a value of the wrong type; the caller adds the path.
func (s *scanner) typeErr(want string) error {
	c := s.ws()
	if c != '"' && c != '{' && c != '[' && c != 't' && c != 'f' && c != 'n' && c != '-' && (c < '0' || c > '9') {
		return s.unexpected("at the start of a value")
	}
	return fieldErr("expected %s, got %s", want, kind(c))
}

// null consumes a null literal if one is next and reports whether it did.
func (s *scanner) null() (bool, error) {
	if s.ws() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		for i := 0; i < len(lit); i++ {
			if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
				return s.unexpected("in literal " + lit)
			}
			s.pos++
		}
	}
	s.pos += len(lit)
	return nil
}

// object reads an object, calling member for each key with the scanner
// positioned at the value, which member must consume. The key aliases the
// body or the scratch buffer and is valid only during the call.
func (s *scanner) object(member func(key []byte) error) error {
	if s.ws() != '{' {
		return s.typeErr("an object")
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		return s.syntaxErr("nesting deeper than %d", maxDepth)
	}
	if s.ws() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.ws() != '"' {
			return s.unexpected("where an object key was expected")
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		if s.ws() != ':' {
			return s.unexpected("after an object key")
		}
		s.pos++
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		switch s.ws() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("after an object member")
		}
	}
}

// array reads an array, calling elem for each element with the scanner
// positioned at it; elem must consume it.
func (s *scanner) array(elem func(i int) error) error {
	if s.ws() != '[' {
		return s.typeErr("an array")
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		return s.syntaxErr("nesting deeper than %d", maxDepth)
	}
	if s.ws() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for i := 0; ; i++ {
		s.ws()
		if err := elem(i); err != nil {
			return err
		}
		switch s.ws() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("after an array element")
		}
	}
}

// plain marks string bytes that need no attention: printable ASCII other
// than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the index of the first byte at or after i that is not
// plain, testing eight bytes at a time: long runs of ordinary text are the
// bulk of a request body.
func plainRun(d []byte, i int) int {
	for i+8 <= len(d) {
		x := binary.LittleEndian.Uint64(d[i:])
		const lsb, msb = 0x0101010101010101, 0x8080808080808080
		q := x ^ (lsb * '"')
		b := x ^ (lsb * '\\')
		// A byte < 0x20, a zero byte of q or b (a quote or a backslash), or
		// a byte ≥ 0x80 sets its top bit here; false positives only cost a
		// byte-by-byte look at these eight.
		if ((x-lsb*0x20)&^x|(q-lsb)&^q|(b-lsb)&^b|x)&msb != 0 {
			break
		}
		i += 8
	}
	for i < len(d) && plain[d[i]] {
		i++
	}
	return i
}

// scanString validates the string at the current position (the opening
// quote) and moves past it. It returns the end of its contents (the index of
// the closing quote) and whether they need decoding: escapes, or bytes that
// are not valid UTF-8.
func (s *scanner) scanString() (end int, decode bool, err error) {
	d := s.data
	start := s.pos + 1
	i := start
	high := false
	for {
		i = plainRun(d, i)
		if i >= len(d) {
			s.pos = i
			return 0, false, s.syntaxErr("unexpected end of input in a string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return i, decode || high && !utf8.Valid(d[start:i]), nil
		case c >= 0x80:
			high = true
			i++
		case c < 0x20:
			s.pos = i
			return 0, false, s.syntaxErr("control character %s in a string", quoteByte(c))
		default: // a backslash
			decode = true
			if i+1 >= len(d) {
				s.pos = len(d)
				return 0, false, s.syntaxErr("unexpected end of input in a string escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(d[i+2:]); !ok {
					s.pos = i
					return 0, false, s.syntaxErr("invalid \\u escape in a string")
				}
				i += 6
			default:
				s.pos = i + 1
				return 0, false, s.syntaxErr("invalid escape %s in a string", quoteByte(d[i+1]))
			}
		}
	}
}

// str reads a string value in one pass. A string without escapes aliases
// the body (no copy: the body is never modified after parsing); one with
// escapes is decoded into the arena from its first backslash on.
func (s *scanner) str() (string, error) {
	if s.ws() != '"' {
		return "", s.typeErr("a string")
	}
	d := s.data
	start := s.pos + 1
	i := start
	high := false
	for {
		i = plainRun(d, i)
		if i >= len(d) {
			s.pos = i
			return "", s.syntaxErr("unexpected end of input in a string")
		}
		switch c := d[i]; {
		case c == '"':
			if high && !utf8.Valid(d[start:i]) {
				return s.decode(start, start)
			}
			s.pos = i + 1
			if i == start {
				return "", nil
			}
			return unsafe.String(&d[start], i-start), nil
		case c >= 0x80:
			high = true
			i++
		case c < 0x20:
			s.pos = i
			return "", s.syntaxErr("control character %s in a string", quoteByte(c))
		default: // a backslash
			if high { // the prefix may hold invalid UTF-8: decode it all
				return s.decode(start, start)
			}
			return s.decode(start, i)
		}
	}
}

// decode finishes reading the string whose contents start at start, of which
// data[start:i] is plain ASCII, decoding it into the arena the way
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func (s *scanner) decode(start, i int) (string, error) {
	d := s.data
	if s.arena == nil {
		// One buffer for every decoded string: decoding never lengthens
		// valid text, so the rest of the body bounds what it must hold.
		s.arena = make([]byte, 0, len(d)-start)
	}
	// Strings already handed out keep pointing into the old memory if an
	// append has to grow the arena (invalid UTF-8 can lengthen text): it only
	// ever writes past n.
	n := len(s.arena)
	b := append(s.arena, d[start:i]...)
	defer func() { s.arena = b }()
	for {
		j := plainRun(d, i)
		b = append(b, d[i:j]...)
		i = j
		if i >= len(d) {
			s.pos = i
			return "", s.syntaxErr("unexpected end of input in a string")
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if len(b) == n {
				return "", nil
			}
			return unsafe.String(&b[n], len(b)-n), nil
		case c >= 0x80:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d[i:i+size]...)
			}
			i += size
			continue
		case c < 0x20:
			s.pos = i
			return "", s.syntaxErr("control character %s in a string", quoteByte(c))
		}
		if i+1 >= len(d) {
			s.pos = len(d)
			return "", s.syntaxErr("unexpected end of input in a string escape")
		}
		switch e := d[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d[i+2:])
			if !ok {
				s.pos = i
				return "", s.syntaxErr("invalid \\u escape in a string")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
					if r2, ok := hex4(d[i+2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			s.pos = i + 1
			return "", s.syntaxErr("invalid escape %s in a string", quoteByte(e))
		}
		i += 2
	}
}

// key reads an object key; without escapes (the norm) it aliases the body.
func (s *scanner) key() ([]byte, error) {
	start := s.pos + 1
	end, decode, err := s.scanString()
	if err != nil {
		return nil, err
	}
	if !decode {
		return s.data[start:end:end], nil
	}
	k, err := s.decode(start, start)
	return []byte(k), err
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans a number and returns its text.
func (s *scanner) number() ([]byte, error) {
	d := s.data
	start := s.pos
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return nil, s.unexpected("in a number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.unexpected("after a decimal point")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.unexpected("in an exponent")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return d[start:i], nil
}

// integer reads an integer value.
func (s *scanner) integer() (int, error) {
	c := s.ws()
	if c != '-' && (c < '0' || c > '9') {
		return 0, s.typeErr("an integer")
	}
	b, err := s.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		if _, ferr := strconv.ParseFloat(string(b), 64); ferr == nil && !isIntText(b) {
			return 0, fieldErr("expected an integer, got %s", b)
		}
		return 0, fieldErr("integer %s out of range", b)
	}
	return n, nil
}

func isIntText(b []byte) bool {
	for _, c := range b {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// boolean reads true or false.
func (s *scanner) boolean() (bool, error) {
	switch s.ws() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, s.typeErr("a boolean")
}

// skip consumes and validates any value.
func (s *scanner) skip() error {
	switch c := s.ws(); c {
	case '"':
		return s.skipString()
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		return s.array(func(int) error { return s.skip() })
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, err := s.number()
		return err
	default:
		return s.unexpected("at the start of a value")
	}
}

// skipString validates a string without decoding it.
func (s *scanner) skipString() error {
	_, _, err := s.scanString()
	return err
}

// raw consumes any value and returns its bytes, aliasing the body.
func (s *scanner) raw() ([]byte, error) {
	s.ws()
	start := s.pos
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// end checks that only whitespace follows the document.
func (s *scanner) end() error {
	if s.ws() != 0 {
		return s.unexpected("after the end of the JSON document")
	}
	return nil
}
