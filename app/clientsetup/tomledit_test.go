package clientsetup

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const testBase = "http://127.0.0.1:8317"

const kirotrayTable = `[model_providers.kirotray]
name = "kirotray"
base_url = "http://127.0.0.1:8317/v1"
env_key = "KIROTRAY_API_KEY"
wire_api = "responses"
`

const defaults = "model_context_window = 200000\nmodel_auto_compact_token_limit = 160000\n"

func TestTOMLEdit(t *testing.T) {
	tests := []struct {
		name, model, in, want string
	}{
		{"empty file", "", "",
			"model_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable},
		{"the README's config is already right", "claude-sonnet-4-5",
			"model = \"claude-sonnet-4-5\"\nmodel_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable,
			"model = \"claude-sonnet-4-5\"\nmodel_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable},
		{"existing provider replaced in place, others kept", "",
			"# my config\nmodel = \"gpt-5\" # favourite\nmodel_provider = \"openai\"   # was this\napproval_policy = \"never\"\n\n" +
				"[model_providers.other]\nname = \"Other\"\nbase_url = \"http://x/v1\"\n\n# profiles\n[profiles.fast]\nmodel = \"o3\"\n",
			"# my config\nmodel = \"gpt-5\" # favourite\nmodel_provider = \"kirotray\"\napproval_policy = \"never\"\n" + defaults + "\n" +
				"[model_providers.other]\nname = \"Other\"\nbase_url = \"http://x/v1\"\n\n# profiles\n[profiles.fast]\nmodel = \"o3\"\n\n" + kirotrayTable},
		{"model set when asked", "claude-opus-4-6",
			"model = \"gpt-5\"\n",
			"model = \"claude-opus-4-6\"\nmodel_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable},
		{"existing kirotray table replaced whole, sub-table and trailing comment kept", "",
			"model_provider = \"kirotray\"\nmodel_context_window = 1000000\nmodel_auto_compact_token_limit = 900000\n\n" +
				"[model_providers.kirotray]\nname = \"old\"\nbase_url = \"http://127.0.0.1:9999/v1\"\nextra = [\n  1, # one\n  2,\n]\n# about the next table\n" +
				"[model_providers.kirotray.http_headers]\nX = \"y\"\n",
			"model_provider = \"kirotray\"\nmodel_context_window = 1000000\nmodel_auto_compact_token_limit = 900000\n\n" +
				kirotrayTable + "# about the next table\n" +
				"[model_providers.kirotray.http_headers]\nX = \"y\"\n"},
		{"tables only: keys go first", "",
			"[mcp_servers.docs]\ncommand = \"npx\"\n",
			"model_provider = \"kirotray\"\n" + defaults + "\n[mcp_servers.docs]\ncommand = \"npx\"\n\n" + kirotrayTable},
		{"no final newline", "",
			"model_provider = \"openai\"",
			"model_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable},
		{"no final newline after a table", "",
			"[a]\nb = 1",
			"model_provider = \"kirotray\"\n" + defaults + "\n[a]\nb = 1\n\n" + kirotrayTable},
		{"CRLF", "",
			"model_provider = \"openai\"\r\n\r\n[x]\r\ny = 1\r\n",
			"model_provider = \"kirotray\"\r\n" + crlf(defaults) + "\r\n[x]\r\ny = 1\r\n\r\n" + crlf(kirotrayTable)},
		{"multi-line strings that look like headers", "",
			"notify = '''\n[model_providers.kirotray]\nx = 1\n'''\ninstructions = \"\"\"\nmodel_provider = \"x\"\n\"\"\"\n",
			"notify = '''\n[model_providers.kirotray]\nx = 1\n'''\ninstructions = \"\"\"\nmodel_provider = \"x\"\n\"\"\"\nmodel_provider = \"kirotray\"\n" + defaults + "\n" + kirotrayTable},
		{"quoted keys", "",
			"\"model_provider\" = \"openai\"\n[\"model_providers\".'kirotray'] # mine\nname = \"k\"\n",
			"model_provider = \"kirotray\"\n" + defaults + "[\"model_providers\".'kirotray'] # mine\nname = \"kirotray\"\nbase_url = \"http://127.0.0.1:8317/v1\"\nenv_key = \"KIROTRAY_API_KEY\"\nwire_api = \"responses\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := codexEdit(testBase, tt.model)
			got, _, err := e.apply([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			checkCodexTOML(t, []byte(tt.in), got, tt.model)
			again, notes, err := e.apply(got)
			if err != nil || string(again) != string(got) || len(notes) != 0 {
				t.Errorf("second run: err %v, notes %q, changed: %v", err, notes, string(again) != string(got))
			}
		})
	}
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// checkCodexTOML decodes out with a real TOML parser: it must hold the
// provider, and everything in, except what kirotray sets, unchanged.
func checkCodexTOML(t *testing.T, in, out []byte, model string) {
	t.Helper()
	var got map[string]any
	if _, err := toml.Decode(string(out), &got); err != nil {
		t.Fatalf("result is not valid TOML: %v\n%s", err, out)
	}
	p, _ := got["model_providers"].(map[string]any)
	k, _ := p["kirotray"].(map[string]any)
	if got["model_provider"] != "kirotray" || k["base_url"] != testBase+"/v1" || k["env_key"] != "KIROTRAY_API_KEY" ||
		k["wire_api"] != "responses" || k["name"] != "kirotray" {
		t.Errorf("decoded: %v", got)
	}
	if model != "" && got["model"] != model {
		t.Errorf("model = %v", got["model"])
	}
	var before map[string]any
	if _, err := toml.Decode(string(in), &before); err != nil {
		return
	}
	strip := func(m map[string]any) {
		for _, key := range []string{"model_provider", "model_context_window", "model_auto_compact_token_limit"} {
			delete(m, key)
		}
		if model != "" {
			delete(m, "model")
		}
		if p, ok := m["model_providers"].(map[string]any); ok {
			p = maps.Clone(p)
			delete(p, "kirotray")
			if len(p) == 0 {
				delete(m, "model_providers")
			} else {
				m["model_providers"] = p
			}
		}
	}
	strip(before)
	strip(got)
	if !reflect.DeepEqual(before, got) {
		t.Errorf("other settings changed:\nbefore %v\nafter  %v", before, got)
	}
}

func TestTOMLEditRefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{"inline table", "model_providers = { kirotray = { name = \"x\" } }\n"},
		{"dotted keys", "[model_providers]\nkirotray.base_url = \"x\"\n"},
		{"dotted top-level keys", "model_providers.kirotray.name = \"x\"\n"},
		{"array of tables", "[[model_providers]]\nname = \"x\"\n"},
		{"duplicate header", "[model_providers.kirotray]\n[model_providers.kirotray]\n"},
		{"model_provider is a table", "[model_provider]\nx = 1\n"},
		{"sub-table clashes with a key", "[model_providers.kirotray.base_url]\nx = 1\n"},
		{"unclosed string", "a = \"x\n"},
		{"unclosed array", "a = [1,\n"},
		{"unclosed multi-line string", "a = '''x\n"},
		{"header junk", "[a] b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := codexEdit(testBase, "").apply([]byte(tt.in))
			if !errors.Is(err, errTOML) {
				t.Errorf("err = %v, want errTOML", err)
			}
		})
	}
}

func FuzzTOMLEdit(f *testing.F) {
	for _, s := range []string{
		"", "model_provider = \"openai\"\n", "[a]\nb = 1\n", kirotrayTable, "model = \"x\"\r\n[t]\r\n",
		"a = [\n 1, # c\n]\n[model_providers.kirotray]\nname = 'x'\n[b]\n",
		"x = \"\"\"\n[y]\n\"\"\"\n", "s = '''a''''\n", "'q.k' = 1\n\"m\\u00e9\" = 2\n",
		"[model_providers.kirotray.sub]\na = 1\n", "model_provider = \"openai\"",
	} {
		f.Add(s)
	}
	e := codexEdit(testBase, "m")
	f.Fuzz(func(t *testing.T, in string) {
		out, _, err := e.apply([]byte(in))
		if err != nil {
			return
		}
		again, notes, err := e.apply(out)
		if err != nil || string(again) != string(out) || len(notes) != 0 {
			t.Fatalf("not idempotent: err %v, notes %q\nin  %q\nout %q\nout2 %q", err, notes, in, out, again)
		}
		var v map[string]any
		if _, err := toml.Decode(in, &v); err == nil {
			checkCodexTOML(t, []byte(in), out, "m")
		}
	})
}
