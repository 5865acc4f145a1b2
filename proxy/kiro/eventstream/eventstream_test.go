package eventstream

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// The three vectors of protocol.md §6.3.
var vectors = []struct {
	name, hex   string
	headers     map[string]string
	payload     string
	preludeCRC  uint32
	messageCRC  uint32
	total, hlen int
}{
	{
		name:       "assistantResponseEvent",
		hex:        "0000007c0000005c3bddcf780b3a6576656e742d74797065070016617373697374616e74526573706f6e73654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74223a224869227db02babdc",
		headers:    map[string]string{":event-type": "assistantResponseEvent", ":content-type": "application/json", ":message-type": "event"},
		payload:    `{"content":"Hi"}`,
		preludeCRC: 0x3bddcf78, messageCRC: 0xb02babdc, total: 124, hlen: 92,
	},
	{
		name:       "toolUseEvent",
		hex:        "000000ab00000052e7b041360b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226e616d65223a2252656164222c22746f6f6c5573654964223a22746f6f6c7573655f31222c22696e707574223a227b5c22706174685c223a222c2273746f70223a66616c73657d83171e80",
		headers:    map[string]string{":event-type": "toolUseEvent", ":content-type": "application/json", ":message-type": "event"},
		payload:    `{"name":"Read","toolUseId":"tooluse_1","input":"{\"path\":","stop":false}`,
		preludeCRC: 0xe7b04136, messageCRC: 0x83171e80, total: 171, hlen: 82,
	},
	{
		name:       "exception",
		hex:        "0000008c000000612b81d3340f3a657863657074696f6e2d747970650700135468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a2252617465206578636565646564227d6e1bac2b",
		headers:    map[string]string{":exception-type": "ThrottlingException", ":content-type": "application/json", ":message-type": "exception"},
		payload:    `{"message":"Rate exceeded"}`,
		preludeCRC: 0x2b81d334, messageCRC: 0x6e1bac2b, total: 140, hlen: 97,
	},
}

func vectorBytes(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range vectors {
		for _, mode := range []string{"whole", "one byte per read", "half"} {
			t.Run(v.name+"/"+mode, func(t *testing.T) {
				b := vectorBytes(t, v.hex)
				var r io.Reader = bytes.NewReader(b)
				switch mode {
				case "one byte per read":
					r = iotest.OneByteReader(r)
				case "half":
					r = iotest.HalfReader(r)
				}
				d := NewDecoder(r)
				m, err := d.Next()
				if err != nil {
					t.Fatal(err)
				}
				if got := string(m.Payload); got != v.payload {
					t.Errorf("payload = %q, want %q", got, v.payload)
				}
				if len(m.Headers) != len(v.headers) {
					t.Errorf("%d headers, want %d", len(m.Headers), len(v.headers))
				}
				for name, want := range v.headers {
					if got, ok := m.Header(name); !ok || got != want {
						t.Errorf("header %s = %q (%v), want %q", name, got, ok, want)
					}
				}
				if _, err := d.Next(); err != io.EOF {
					t.Errorf("after the frame: err = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestVectorsEncode(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			want := vectorBytes(t, v.hex)
			// Same header order as the vector: decode to learn it, then re-encode.
			m, err := NewDecoder(bytes.NewReader(want)).Next()
			if err != nil {
				t.Fatal(err)
			}
			got := Append(nil, Message{Headers: m.Headers, Payload: m.Payload})
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%x\nwant\n%x", got, want)
			}
			if len(got) != v.total {
				t.Errorf("total %d, want %d", len(got), v.total)
			}
		})
	}
}

func TestEncodeStringHeaders(t *testing.T) {
	got := Append(nil, Message{Headers: []Header{
		String(":event-type", "assistantResponseEvent"),
		String(":content-type", "application/json"),
		String(":message-type", "event"),
	}, Payload: []byte(`{"content":"Hi"}`)})
	if want := vectorBytes(t, vectors[0].hex); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
}

func TestAllHeaderTypesRoundTrip(t *testing.T) {
	in := Message{Headers: []Header{
		{Name: "t", Type: TypeTrue, Int: 1},
		{Name: "f", Type: TypeFalse},
		{Name: "b", Type: TypeByte, Int: -5},
		{Name: "s", Type: TypeShort, Int: -300},
		{Name: "i", Type: TypeInt, Int: -70000},
		{Name: "l", Type: TypeLong, Int: 1 << 40},
		{Name: "ba", Type: TypeBytes, Bytes: []byte{0, 1, 2}},
		{Name: "str", Type: TypeString, Bytes: []byte("hello")},
		{Name: "ts", Type: TypeTimestamp, Int: 1767225600000},
		{Name: "u", Type: TypeUUID, Bytes: bytes.Repeat([]byte{0xab}, 16)},
	}, Payload: []byte("payload")}
	frame := Append(nil, in)
	out, err := NewDecoder(bytes.NewReader(frame)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Headers) != len(in.Headers) {
		t.Fatalf("%d headers, want %d", len(out.Headers), len(in.Headers))
	}
	for i, h := range in.Headers {
		g := out.Headers[i]
		if g.Name != h.Name || g.Type != h.Type || g.Int != h.Int || !bytes.Equal(g.Bytes, h.Bytes) {
			t.Errorf("header %d = %+v, want %+v", i, g, h)
		}
	}
}

func TestManyFramesSplitAnywhere(t *testing.T) {
	var stream []byte
	var want []string
	for i := range 50 {
		p := bytes.Repeat([]byte{'a' + byte(i%26)}, i*37)
		stream = Append(stream, Message{Headers: []Header{String(":event-type", "x")}, Payload: p})
		want = append(want, string(p))
	}
	for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)), iotest.DataErrReader(bytes.NewReader(stream))} {
		d := NewDecoder(r)
		for i, w := range want {
			m, err := d.Next()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if string(m.Payload) != w {
				t.Fatalf("frame %d: payload of %d bytes, want %d", i, len(m.Payload), len(w))
			}
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("end: %v", err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good := vectorBytes(t, vectors[0].hex)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x01; return b }
	var crc *CRCError
	var fe *FrameError
	tests := []struct {
		name  string
		in    []byte
		check func(error) bool
	}{
		{"prelude crc", flip(9), func(err error) bool { return errors.As(err, &crc) && crc.Prelude }},
		{"length corrupted", flip(3), func(err error) bool { return errors.As(err, &crc) && crc.Prelude }},
		{"payload bit flipped", flip(110), func(err error) bool { return errors.As(err, &crc) && !crc.Prelude }},
		{"message crc", flip(123), func(err error) bool { return errors.As(err, &crc) && !crc.Prelude }},
		{"truncated prelude", good[:7], func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"truncated body", good[:100], func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"too small", fixPrelude(8, 0), func(err error) bool { return errors.As(err, &fe) }},
		{"headers longer than frame", fixPrelude(20, 10), func(err error) bool { return errors.As(err, &fe) }},
		{"over the limit", fixPrelude(DefaultMaxFrame+1, 0), func(err error) bool { return errors.Is(err, ErrTooLarge) }},
		{"bad header type", frameWithRawHeaders([]byte{1, 'x', 42}), func(err error) bool { return errors.As(err, &fe) }},
		{"empty header name", frameWithRawHeaders([]byte{0, 7, 0, 0}), func(err error) bool { return errors.As(err, &fe) }},
		{"header value past block", frameWithRawHeaders([]byte{1, 'x', 7, 0, 9, 'a'}), func(err error) bool { return errors.As(err, &fe) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(tt.in))
			_, err := d.Next()
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if _, again := d.Next(); again != err {
				t.Errorf("error not sticky: %v", again)
			}
		})
	}
}

// fixPrelude builds a prelude with a correct CRC for the given lengths.
func fixPrelude(total, headers uint32) []byte {
	b := []byte{byte(total >> 24), byte(total >> 16), byte(total >> 8), byte(total), byte(headers >> 24), byte(headers >> 16), byte(headers >> 8), byte(headers)}
	c := crc32IEEE(b)
	return append(b, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

func TestMaxFrameOption(t *testing.T) {
	frame := Append(nil, Message{Payload: make([]byte, 1000)})
	d := NewDecoder(bytes.NewReader(frame))
	d.MaxFrame = 500
	if _, err := d.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestReady(t *testing.T) {
	two := Append(Append(nil, Message{Payload: []byte("a")}), Message{Payload: []byte("b")})
	d := NewDecoder(bytes.NewReader(two)) // one Read returns both frames
	if d.Ready() {
		t.Fatal("ready before any read")
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if !d.Ready() {
		t.Fatal("second frame buffered but not ready")
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if d.Ready() {
		t.Fatal("ready with nothing buffered")
	}
	half := NewDecoder(iotest.OneByteReader(bytes.NewReader(two)))
	if _, err := half.Next(); err != nil {
		t.Fatal(err)
	}
	if half.Ready() {
		t.Fatal("ready although the second frame was not read yet")
	}
}
