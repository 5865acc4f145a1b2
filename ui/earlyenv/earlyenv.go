// Package earlyenv runs before Fyne's packages initialize (main imports it
// blank). Fyne's lang package reads the locale in its init and logs
// "Error parsing user locale C" on every start where LANG is C or POSIX,
// the default in containers and on servers, where `kirotray serve` runs.
// Setting LANGUAGE=en there, and only there, keeps those runs quiet without
// changing anything for people with a real locale.
package earlyenv

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	locale := os.Getenv("LC_ALL")
	if locale == "" {
		locale = os.Getenv("LC_MESSAGES")
	}
	if locale == "" {
		locale = os.Getenv("LANG")
	}
	base, _, _ := strings.Cut(locale, ".")
	if base == "" || base == "C" || base == "POSIX" {
		_ = os.Setenv("LANGUAGE", "en")
	}
}
