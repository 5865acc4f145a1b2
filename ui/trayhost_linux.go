package ui

import (
	"os"

	"github.com/godbus/dbus/v5"
)

// sessionBus reports whether a D-Bus session bus answers. systray needs
// one: set up without it, Quit panics in godbus (fyne-io/fyne#6403).
func sessionBus() bool {
	c, ok := dialSessionBus()
	if ok {
		_ = c.Close()
	}
	return ok
}

func dialSessionBus() (*dbus.Conn, bool) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return nil, false // godbus would try dbus-launch, which may be absent
	}
	c, err := dbus.SessionBusPrivate()
	if err != nil {
		return nil, false
	}
	if c.Auth(nil) != nil || c.Hello() != nil {
		_ = c.Close()
		return nil, false
	}
	return c, true
}

// trayHost reports whether a StatusNotifier host (a panel that shows tray
// icons) is running; neither Fyne nor systray tells.
func trayHost() bool {
	c, ok := dialSessionBus()
	if !ok {
		return false
	}
	defer c.Close()
	var has bool
	if c.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has) != nil || !has {
		return false
	}
	v, err := c.Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher").
		GetProperty("org.kde.StatusNotifierWatcher.IsStatusNotifierHostRegistered")
	registered, _ := v.Value().(bool)
	return err == nil && registered
}
