// Package eventstream decodes and encodes AWS event-stream frames
// (application/vnd.amazon.eventstream): prelude, typed headers, payload and
// two CRC-32 checksums. It knows nothing about Kiro.
package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Frame layout constants.
const (
	preludeLen = 12 // total_length, headers_length, prelude_crc
	minFrame   = 16 // prelude + message_crc, no headers, no payload

	// DefaultMaxFrame bounds one frame. Kiro frames are a few hundred bytes to
	// a few KB; 16 MiB leaves room for very large tool inputs.
	DefaultMaxFrame = 16 << 20
)

// ValueType is a header value's wire type.
type ValueType uint8

// Header value types, as numbered on the wire.
const (
	TypeTrue ValueType = iota
	TypeFalse
	TypeByte
	TypeShort
	TypeInt
	TypeLong
	TypeBytes
	TypeString
	TypeTimestamp // milliseconds since the Unix epoch
	TypeUUID
)

// Header is one frame header. Integer, boolean and timestamp values are in
// Int (booleans as 1/0); byte array, string and UUID values are in Bytes.
type Header struct {
	Name  string
	Type  ValueType
	Int   int64
	Bytes []byte
}

// String returns a string header; it is how Kiro sends all of its headers.
func String(name, value string) Header {
	return Header{Name: name, Type: TypeString, Bytes: []byte(value)}
}

// Message is one decoded frame. Payload and header Bytes returned by
// Decoder.Next alias the decoder's buffer and are valid until the next call.
type Message struct {
	Headers []Header
	Payload []byte
}

// Header returns the value of the first header called name, as a string,
// and whether it was present.
func (m *Message) Header(name string) (string, bool) {
	for i := range m.Headers {
		if m.Headers[i].Name == name {
			h := &m.Headers[i]
			switch h.Type {
			case TypeString, TypeBytes:
				return string(h.Bytes), true
			case TypeTrue:
				return "true", true
			case TypeFalse:
				return "false", true
			case TypeUUID:
				return fmt.Sprintf("%x", h.Bytes), true
			default:
				return fmt.Sprint(h.Int), true
			}
		}
	}
	return "", false
}

// CRCError reports a checksum mismatch.
type CRCError struct {
	Prelude   bool // the prelude CRC, else the message CRC
	Want, Got uint32
}

func (e *CRCError) Error() string {
	part := "message"
	if e.Prelude {
		part = "prelude"
	}
	return fmt.Sprintf("eventstream: %s crc mismatch: frame says %#08x, computed %#08x", part, e.Want, e.Got)
}

// FrameError reports a frame whose lengths or headers are malformed.
type FrameError struct {
	Reason string
}

func (e *FrameError) Error() string { return "eventstream: bad frame: " + e.Reason }

// ErrTooLarge is wrapped by the error for a frame over the decoder's limit.
var ErrTooLarge = errors.New("eventstream: frame too large")

// parseFrame checks and parses one complete frame; frame is exactly
// total_length bytes. Headers are appended to hdrs (which may be reused).
func parseFrame(frame []byte, hdrs []Header) (Message, error) {
	headersLen := binary.BigEndian.Uint32(frame[4:8])
	want := binary.BigEndian.Uint32(frame[len(frame)-4:])
	if got := crc32.ChecksumIEEE(frame[:len(frame)-4]); got != want {
		return Message{}, &CRCError{Want: want, Got: got}
	}
	headerBlock := frame[preludeLen : preludeLen+int(headersLen)]
	hdrs, err := parseHeaders(headerBlock, hdrs[:0])
	if err != nil {
		return Message{}, err
	}
	return Message{Headers: hdrs, Payload: frame[preludeLen+int(headersLen) : len(frame)-4]}, nil
}

// checkPrelude validates the first 12 bytes and returns total_length.
func checkPrelude(p []byte, maxFrame int) (int, error) {
	total := binary.BigEndian.Uint32(p[0:4])
	headersLen := binary.BigEndian.Uint32(p[4:8])
	want := binary.BigEndian.Uint32(p[8:12])
	if got := crc32.ChecksumIEEE(p[0:8]); got != want {
		return 0, &CRCError{Prelude: true, Want: want, Got: got}
	}
	if total < minFrame {
		return 0, &FrameError{Reason: fmt.Sprintf("total length %d below the minimum of %d", total, minFrame)}
	}
	if uint64(total) > uint64(maxFrame) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, total, maxFrame)
	}
	if uint64(headersLen) > uint64(total)-minFrame {
		return 0, &FrameError{Reason: fmt.Sprintf("headers length %d does not fit in a %d-byte frame", headersLen, total)}
	}
	return int(total), nil
}

// valueSizes is the fixed size of each value type; -1 means length-prefixed.
var valueSizes = [...]int{TypeTrue: 0, TypeFalse: 0, TypeByte: 1, TypeShort: 2, TypeInt: 4,
	TypeLong: 8, TypeBytes: -1, TypeString: -1, TypeTimestamp: 8, TypeUUID: 16}

func parseHeaders(b []byte, hdrs []Header) ([]Header, error) {
	for len(b) > 0 {
		nameLen := int(b[0])
		if nameLen == 0 {
			return nil, &FrameError{Reason: "header with an empty name"}
		}
		if len(b) < 1+nameLen+1 {
			return nil, &FrameError{Reason: "header name runs past the header block"}
		}
		h := Header{Name: string(b[1 : 1+nameLen]), Type: ValueType(b[1+nameLen])}
		b = b[2+nameLen:]
		if int(h.Type) >= len(valueSizes) {
			return nil, &FrameError{Reason: fmt.Sprintf("header %q has unknown value type %d", h.Name, h.Type)}
		}
		size := valueSizes[h.Type]
		if size < 0 {
			if len(b) < 2 {
				return nil, &FrameError{Reason: fmt.Sprintf("header %q: value length runs past the header block", h.Name)}
			}
			size = int(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) < size {
			return nil, &FrameError{Reason: fmt.Sprintf("header %q: value runs past the header block", h.Name)}
		}
		v := b[:size]
		switch h.Type {
		case TypeTrue:
			h.Int = 1
		case TypeByte:
			h.Int = int64(int8(v[0]))
		case TypeShort:
			h.Int = int64(int16(binary.BigEndian.Uint16(v)))
		case TypeInt:
			h.Int = int64(int32(binary.BigEndian.Uint32(v)))
		case TypeLong, TypeTimestamp:
			h.Int = int64(binary.BigEndian.Uint64(v))
		case TypeBytes, TypeString, TypeUUID:
			h.Bytes = v
		}
		b = b[size:]
		hdrs = append(hdrs, h)
	}
	return hdrs, nil
}

// Append encodes m as one frame appended to dst. It panics if a header name
// is empty or longer than 255 bytes, or a value longer than 65535 bytes: those
// are programming errors of the caller.
func Append(dst []byte, m Message) []byte {
	headersLen := 0
	for _, h := range m.Headers {
		if len(h.Name) == 0 || len(h.Name) > 255 {
			panic("eventstream: header name length out of range")
		}
		headersLen += 2 + len(h.Name)
		if int(h.Type) >= len(valueSizes) {
			panic("eventstream: unknown header value type")
		}
		if s := valueSizes[h.Type]; s >= 0 {
			headersLen += s
		} else {
			if len(h.Bytes) > 0xffff {
				panic("eventstream: header value too long")
			}
			headersLen += 2 + len(h.Bytes)
		}
	}
	total := minFrame + headersLen + len(m.Payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(headersLen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range m.Headers {
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = append(dst, byte(h.Type))
		switch h.Type {
		case TypeByte:
			dst = append(dst, byte(h.Int))
		case TypeShort:
			dst = binary.BigEndian.AppendUint16(dst, uint16(h.Int))
		case TypeInt:
			dst = binary.BigEndian.AppendUint32(dst, uint32(h.Int))
		case TypeLong, TypeTimestamp:
			dst = binary.BigEndian.AppendUint64(dst, uint64(h.Int))
		case TypeUUID:
			var u [16]byte
			copy(u[:], h.Bytes)
			dst = append(dst, u[:]...)
		case TypeBytes, TypeString:
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Bytes)))
			dst = append(dst, h.Bytes...)
		}
	}
	dst = append(dst, m.Payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}
