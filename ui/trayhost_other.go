//go:build !linux

package ui

// Windows and macOS always have a notification area / menu bar.

func sessionBus() bool { return true }

func trayHost() bool { return true }
