package eventstream

import (
	"encoding/binary"
	"errors"
	"io"
)

// Decoder reads frames from a stream that may split them anywhere. It reads
// only as much as it needs, so each frame is returned as soon as its last byte
// arrives. It stops at the first corrupt frame: Kiro streams are not resynced.
type Decoder struct {
	r io.Reader
	// MaxFrame bounds one frame in bytes; zero means DefaultMaxFrame. A frame
	// over it is refused from its prelude, before anything is allocated for it.
	MaxFrame int

	buf        []byte // buf[start:end] holds unread bytes
	start, end int
	hdrs       []Header // reused between frames
	err        error    // sticky
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// Next returns the next frame. At a clean end of stream it returns io.EOF; a
// stream that ends inside a frame gives io.ErrUnexpectedEOF. After an error
// every call returns the same error. The Message aliases the decoder's buffer
// until the next call.
func (d *Decoder) Next() (Message, error) {
	if d.err != nil {
		return Message{}, d.err
	}
	m, err := d.next()
	if err != nil {
		d.err = err
	}
	return m, err
}

func (d *Decoder) next() (Message, error) {
	maxFrame := d.MaxFrame
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if err := d.fill(preludeLen, true); err != nil {
		return Message{}, err
	}
	total, err := checkPrelude(d.buf[d.start:d.start+preludeLen], maxFrame)
	if err != nil {
		return Message{}, err
	}
	if err := d.fill(total, false); err != nil {
		return Message{}, err
	}
	frame := d.buf[d.start : d.start+total]
	d.start += total
	return parseFrame(frame, d.hdrs)
}

// fill makes sure n unread bytes are buffered. atBoundary says a clean EOF
// (no bytes at all) is io.EOF rather than a truncated frame.
func (d *Decoder) fill(n int, atBoundary bool) error {
	if d.end-d.start >= n {
		return nil
	}
	if cap(d.buf)-d.start < n { // not enough room after start: compact or grow
		if cap(d.buf) >= n {
			copy(d.buf[:cap(d.buf)], d.buf[d.start:d.end])
		} else {
			size := max(2*cap(d.buf), n, 4096)
			nb := make([]byte, size)
			copy(nb, d.buf[d.start:d.end])
			d.buf = nb
		}
		d.end -= d.start
		d.start = 0
	}
	d.buf = d.buf[:cap(d.buf)]
	for d.end-d.start < n {
		k, err := d.r.Read(d.buf[d.end:])
		d.end += k
		if d.end-d.start >= n {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if atBoundary && d.end == d.start {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Ready reports whether a whole frame is already buffered, so that Next will
// return without reading. Callers that flush after each event use it to
// write a burst of frames that arrived together with one flush.
func (d *Decoder) Ready() bool {
	if d.err != nil {
		return false
	}
	n := d.end - d.start
	if n < preludeLen {
		return false
	}
	total := int(binary.BigEndian.Uint32(d.buf[d.start : d.start+4]))
	return n >= total
}
