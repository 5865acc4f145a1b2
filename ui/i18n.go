package ui

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"fyne.io/fyne/v2/lang"
)

// The window speaks English or Chinese (Simplified). English strings are
// the keys: every string a person reads is written in English in the code,
// wrapped in tr, and looked up in zhStrings (i18n_zh.go) when the language
// is Chinese. A string with no entry shows in English; TestTranslations
// fails if a tr("…") literal in ui/ has none.
//
// Format strings keep their verbs in the same order in both languages, so
// fmt.Sprintf(tr("%d requests shown, %d in flight"), n, m) works in either.

// language is the window's language now: "en" or "zh".
var language atomic.Value // string

func init() { language.Store("en") }

// tr translates a user-visible string into the window's language. Every
// string a person reads goes through it. Safe from any goroutine.
func tr(s string) string {
	if language.Load() == "zh" {
		if t, ok := zhStrings[s]; ok {
			return t
		}
	}
	return s
}

// setLanguage switches tr to code ("en", "zh", or "" for the system's
// language) and returns the language now in effect. Widgets built before
// keep their text: the window rebuilds its content (window.relabel).
func setLanguage(code string) string {
	code = resolveLanguage(code)
	language.Store(code)
	return code
}

// resolveLanguage is the language a preference stands for, "en" or "zh".
func resolveLanguage(code string) string {
	if code == "" {
		code = systemLanguage()
	}
	if code != "zh" {
		code = "en"
	}
	return code
}

// currentLanguage is the language tr uses now, "en" or "zh".
func currentLanguage() string { return language.Load().(string) }

// systemLanguage is "zh" when the person's system speaks Chinese, else
// "en". On Linux and the BSDs that is the first of LANGUAGE, LC_ALL,
// LC_MESSAGES and LANG that is set; elsewhere Fyne asks the OS.
func systemLanguage() string {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		if strings.HasPrefix(strings.ToLower(lang.SystemLocale().LanguageString()), "zh") {
			return "zh"
		}
		return "en"
	}
	return languageFromEnv(os.Getenv)
}

// languageFromEnv reads the POSIX locale variables through getenv.
func languageFromEnv(getenv func(string) string) string {
	for _, k := range []string{"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		first, _, _ := strings.Cut(v, ":") // LANGUAGE is a list, most wanted first
		if strings.HasPrefix(strings.ToLower(first), "zh") {
			return "zh"
		}
		return "en"
	}
	return "en"
}
