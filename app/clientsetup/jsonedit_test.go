package clientsetup

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONSet(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string
		val  string
		want string
	}{
		{"empty object", "{}\n", []string{"env", "A"}, `"1"`,
			"{\n  \"env\": {\n    \"A\": \"1\"\n  }\n}\n"},
		{"keeps other keys in order", "{\n  \"z\": 1,\n  \"a\": [1, 2],\n  \"m\": {\"x\": null}\n}\n", []string{"env", "A"}, `"1"`,
			"{\n  \"z\": 1,\n  \"a\": [1, 2],\n  \"m\": {\"x\": null},\n  \"env\": {\n    \"A\": \"1\"\n  }\n}\n"},
		{"adds beside other vars", "{\n  \"env\": {\n    \"FOO\": \"bar\"\n  },\n  \"model\": \"opus\"\n}", []string{"env", "A"}, `"1"`,
			"{\n  \"env\": {\n    \"FOO\": \"bar\",\n    \"A\": \"1\"\n  },\n  \"model\": \"opus\"\n}"},
		{"replaces in place", "{\"env\": {\"A\": \"old\", \"B\": 2}, \"x\": 1}", []string{"env", "A"}, `"new"`,
			"{\"env\": {\"A\": \"new\", \"B\": 2}, \"x\": 1}"},
		{"compact document", `{"a":1}`, []string{"env", "A"}, `"1"`,
			`{"a":1,"env":{"A":"1"}}`},
		{"empty env, multi-line", "{\n\t\"env\": {},\n\t\"b\": true\n}\n", []string{"env", "A"}, `"1"`,
			"{\n\t\"env\": {\n\t\t\"A\": \"1\"\n\t},\n\t\"b\": true\n}\n"},
		{"CRLF", "{\r\n  \"a\": 1\r\n}\r\n", []string{"b"}, "true",
			"{\r\n  \"a\": 1,\r\n  \"b\": true\r\n}\r\n"},
		{"four-space indent", "{\n    \"a\": 1\n}\n", []string{"env", "A"}, `"1"`,
			"{\n    \"a\": 1,\n    \"env\": {\n        \"A\": \"1\"\n    }\n}\n"},
		{"duplicate key: the last one counts", `{"a": 1, "a": 2}`, []string{"a"}, "3",
			`{"a": 1, "a": 3}`},
		{"escaped key name", `{"\u0061": 1}`, []string{"a"}, "2",
			`{"\u0061": 2}`},
		{"same value differently spelled", `{"a": "\u0078"}`, []string{"a"}, `"x"`,
			`{"a": "\u0078"}`},
		{"strings with braces", `{"s": "}{\"", "t": ["]"]}`, []string{"u"}, "1",
			`{"s": "}{\"", "t": ["]"], "u": 1}`},
		{"empty file", "", []string{"hasCompletedOnboarding"}, "true",
			"{\n  \"hasCompletedOnboarding\": true\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseJSONDoc("f.json", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			changed, err := d.set(tt.path, []byte(tt.val))
			if err != nil {
				t.Fatal(err)
			}
			got := string(d.bytes())
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if changed != (tt.in != tt.want) && tt.in != "" {
				t.Errorf("changed = %v", changed)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("result is not valid JSON")
			}
		})
	}
}

func TestJSONDelete(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"env": {"T": 1}}`, `{"env": {}}`},
		{`{"env": {"T": 1, "B": 2}}`, `{"env": {"B": 2}}`},
		{`{"env": {"A": 1, "T": 2}}`, `{"env": {"A": 1}}`},
		{"{\"env\": {\n  \"A\": 1,\n  \"T\": 2,\n  \"B\": 3\n}}", "{\"env\": {\n  \"A\": 1,\n  \"B\": 3\n}}"},
		{`{"env": {"T": 1, "A": 0, "T": 2}}`, `{"env": {"A": 0}}`},
		{`{"env": {"A": 1}}`, `{"env": {"A": 1}}`},
		{`{"other": 1}`, `{"other": 1}`},
	}
	for _, tt := range tests {
		d, err := parseJSONDoc("f.json", []byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		changed, err := d.delete([]string{"env", "T"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(d.bytes()); got != tt.want || changed != (tt.in != tt.want) {
			t.Errorf("delete(%s) = %s, %v; want %s", tt.in, got, changed, tt.want)
		}
	}
}

func TestJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\n  \"a\": 1,\n  \"b\": secret-value\n}", "f.json:3: not valid JSON"},
		{"[1, 2]", "want a JSON object"},
		{"{\"a\": 1}\n// comment", "f.json:2: not valid JSON"},
	}
	for _, tt := range tests {
		_, err := parseJSONDoc("f.json", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseJSONDoc(%q) = %v, want error with %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-value") {
			t.Errorf("error quotes the file: %v", err)
		}
	}
	d, _ := parseJSONDoc("f.json", []byte(`{"env": "x"}`))
	if _, err := d.set([]string{"env", "A"}, []byte("1")); err == nil || !strings.Contains(err.Error(), `"env" is not a JSON object`) {
		t.Errorf("set under a string: %v", err)
	}
}

func TestJSONBOMKept(t *testing.T) {
	d, err := parseJSONDoc("f.json", []byte("\xef\xbb\xbf{\"a\": 1}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.set([]string{"a"}, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := string(d.bytes()); got != "\xef\xbb\xbf{\"a\": 2}" {
		t.Errorf("got %q", got)
	}
}
