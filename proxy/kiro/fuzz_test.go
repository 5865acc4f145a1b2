package kiro

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// FuzzBuildRequest: any conversation (built from the fuzz bytes by the same
// generator as TestBuildProperty) builds without panic into valid JSON that
// passes the structural checker.
func FuzzBuildRequest(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte("\x03\x00\x04\x09\x02\x05\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"))
	f.Add([]byte("tool rounds and orphans: \x00\x01\x00\x02\x00\x03\x04\x04\x04\x05\x05\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := genRequest(&byteChooser{b: data})
		p, err := BuildRequest(req, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(p.Body) {
			t.Fatalf("invalid JSON: %s", p.Body)
		}
		if err := checkBody(p.Body); err != nil {
			t.Fatalf("%v\nrequest: %s\nbody: %s", err, dumpRequest(req), p.Body)
		}
	})
}

// FuzzParseEvent: no frame makes ParseEvent panic, and a nil error always
// comes with an event.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []struct{ msgType, typ, payload string }{
		{"event", "assistantResponseEvent", `{"content":"Hi"}`},
		{"event", "toolUseEvent", `{"name":"Read","toolUseId":"t1","input":"{\"path\":","stop":false}`},
		{"event", "toolUseEvent", `{"name":"Read","toolUseId":"t1","input":{"path":"/x"}}`},
		{"event", "toolUseEvent", `{"name":"Read","toolUseId":"t1","input":{}}`},
		{"event", "reasoningContentEvent", `{"text":"hm","signature":"s","redactedContent":"AAAA"}`},
		{"event", "contextUsageEvent", `{"contextUsagePercentage":12.34}`},
		{"event", "meteringEvent", `{"usage":0.0123,"unit":"credit"}`},
		{"event", "metadataEvent", `{"tokenUsage":{"uncachedInputTokens":1,"outputTokens":2}}`},
		{"event", "messageMetadataEvent", `{"conversationId":"c"}`},
		{"event", "invalidStateEvent", `{"reason":"INVALID_TASK_ASSIST_PLAN","message":"m"}`},
		{"event", "followupPromptEvent", `{"followupPrompt":{"content":"x"}}`},
		{"exception", "ThrottlingException", `{"message":"Rate exceeded"}`},
		{"error", "", ``},
		{"", "assistantResponseEvent", `{"content":`},
	} {
		f.Add(s.msgType, s.typ, []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, msgType, typ string, payload []byte) {
		m := eventstream.Message{Payload: payload}
		if msgType != "" && len(msgType) < 256 {
			m.Headers = append(m.Headers, eventstream.String(":message-type", msgType))
		}
		if typ != "" && len(typ) < 256 {
			m.Headers = append(m.Headers,
				eventstream.String(":event-type", typ),
				eventstream.String(":exception-type", typ),
				eventstream.String(":error-code", typ))
		}
		ev, parseErr := ParseEvent(&m)
		if parseErr == nil && ev == nil {
			t.Fatal("nil event without an error")
		}
		// The frame-level classification must not panic either.
		_ = frameError(&m)
		// And through the wire: encode, decode, parse.
		frame := eventstream.Append(nil, m)
		dec := eventstream.NewDecoder(bytes.NewReader(frame))
		got, err := dec.Next()
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if _, err := ParseEvent(&got); (err == nil) != (parseErr == nil) {
			t.Fatalf("parse after decode: %v, before: %v", err, parseErr)
		}
	})
}
