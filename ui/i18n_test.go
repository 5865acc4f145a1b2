package ui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// trLiterals returns every string literal passed to tr in the package's
// non-test Go files, with where it is.
func trLiterals(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "tr" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true // tr(variable): its values must be tr'd where they are written
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
			}
			if _, seen := found[s]; !seen {
				found[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	return found
}

// TestTranslations fails when a tr("…") string in ui/ has no Chinese entry.
func TestTranslations(t *testing.T) {
	used := trLiterals(t)
	if len(used) < 20 {
		t.Fatalf("found only %d tr literals: is the parser looking at ui/?", len(used))
	}
	var missing []string
	for s, pos := range used {
		if zh, ok := zhStrings[s]; !ok || strings.TrimSpace(zh) == "" {
			missing = append(missing, pos+": "+strconv.Quote(s))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no Chinese for %s", m)
	}
	var unused []string
	for s := range zhStrings {
		if _, ok := used[s]; !ok {
			unused = append(unused, strconv.Quote(s))
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		t.Logf("%d entries no tr call uses (remove them when the text is gone for good): %s", len(unused), strings.Join(unused, ", "))
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0]*[0-9*]*(?:\.[0-9*]+)?[a-zA-Z%]`)

// TestTranslationVerbs: a format string keeps its verbs, in order.
func TestTranslationVerbs(t *testing.T) {
	for en, zh := range zhStrings {
		if a, b := verbRE.FindAllString(en, -1), verbRE.FindAllString(zh, -1); !slices.Equal(a, b) {
			t.Errorf("%q has verbs %q, its Chinese %q has %q", en, a, zh, b)
		}
	}
}

func TestTrFollowsTheLanguage(t *testing.T) {
	t.Cleanup(func() { setLanguage("en") })
	if got := setLanguage("zh"); got != "zh" || tr("Settings") != "设置" || currentLanguage() != "zh" {
		t.Fatalf("zh: %q, %q", got, tr("Settings"))
	}
	if tr("no such string, kept as is") != "no such string, kept as is" {
		t.Error("an unknown string changed")
	}
	if got := setLanguage("en"); got != "en" || tr("Settings") != "Settings" {
		t.Fatalf("en: %q, %q", got, tr("Settings"))
	}
	if got := setLanguage("fr"); got != "en" {
		t.Errorf("fr gave %q", got)
	}
}

func TestLanguageFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "en"},
		{map[string]string{"LANG": "zh_CN.UTF-8"}, "zh"},
		{map[string]string{"LANG": "zh_TW.UTF-8"}, "zh"},
		{map[string]string{"LANG": "de_DE.UTF-8"}, "en"},
		{map[string]string{"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"},
		{map[string]string{"LANGUAGE": "en", "LANG": "zh_CN.UTF-8"}, "en"}, // LANGUAGE comes first
		{map[string]string{"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"},
		{map[string]string{"LC_MESSAGES": "zh_SG", "LANG": "C"}, "zh"},
	} {
		if got := languageFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.env, got, tc.want)
		}
	}
}
