//go:build windows

package autostart

import (
	"testing"

	"golang.org/x/sys/windows/registry"
)

func TestRunKeyRoundTrip(t *testing.T) {
	c := Config{RunKey: `Software\kirotray-autostart-test`}
	t.Cleanup(func() { _ = registry.DeleteKey(registry.CURRENT_USER, c.RunKey) })
	if on, err := c.Enabled(); on || err != nil {
		t.Fatalf("before: %v %v", on, err)
	}
	if err := c.Enable(`C:\Program Files\kirotray\kirotray.exe`); err != nil {
		t.Fatal(err)
	}
	if on, err := c.Enabled(); !on || err != nil {
		t.Fatalf("after enable: %v %v", on, err)
	}
	if err := c.Disable(); err != nil {
		t.Fatal(err)
	}
	if on, err := c.Enabled(); on || err != nil {
		t.Fatalf("after disable: %v %v", on, err)
	}
}
