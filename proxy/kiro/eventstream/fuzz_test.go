package eventstream

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzDecoder: no panic, no frame over the limit, and every frame that
// decodes re-encodes to the same bytes.
func FuzzDecoder(f *testing.F) {
	for _, v := range vectors {
		b, _ := hex.DecodeString(v.hex)
		f.Add(b, uint8(0))
		f.Add(b[:len(b)/2], uint8(3))
	}
	f.Add(Append(Append(nil, Message{Payload: []byte("{}")}), Message{Headers: []Header{{Name: "u", Type: TypeUUID, Bytes: make([]byte, 16)}}}), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var r io.Reader = bytes.NewReader(data)
		if chunk%2 == 1 {
			r = iotest.OneByteReader(r)
		}
		d := NewDecoder(r)
		d.MaxFrame = 1 << 16
		consumed := 0
		for range 1000 {
			m, err := d.Next()
			if err != nil {
				return
			}
			again := Append(nil, Message{Headers: m.Headers, Payload: m.Payload})
			if len(again) > d.MaxFrame {
				t.Fatalf("frame of %d bytes over the limit", len(again))
			}
			if !bytes.Equal(again, data[consumed:consumed+len(again)]) {
				t.Fatalf("re-encoding differs at offset %d", consumed)
			}
			consumed += len(again)
		}
	})
}
