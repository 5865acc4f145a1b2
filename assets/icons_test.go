package assets

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the PNGs from the drawing code")

// Palette.
var (
	inkDark  = color.NRGBA{0x24, 0x29, 0x2f, 0xff} // for light panels
	inkLight = color.NRGBA{0xf0, 0xf3, 0xf6, 0xff} // for dark panels
	green    = color.NRGBA{0x2d, 0xa4, 0x4e, 0xff}
	red      = color.NRGBA{0xe0, 0x4a, 0x3f, 0xff}
	indigo   = color.NRGBA{0x4b, 0x4f, 0xd6, 0xff}
	white    = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// shape is a signed distance function in unit coordinates (0..1): negative inside.
type shape func(x, y float64) float64

func disk(cx, cy, r float64) shape {
	return func(x, y float64) float64 { return math.Hypot(x-cx, y-cy) - r }
}

func ring(cx, cy, r, w float64) shape {
	return func(x, y float64) float64 { return math.Abs(math.Hypot(x-cx, y-cy)-r) - w/2 }
}

// segment is a capsule of width w from (ax,ay) to (bx,by).
func segment(ax, ay, bx, by, w float64) shape {
	return func(x, y float64) float64 {
		px, py, dx, dy := x-ax, y-ay, bx-ax, by-ay
		t := math.Max(0, math.Min(1, (px*dx+py*dy)/(dx*dx+dy*dy)))
		return math.Hypot(px-t*dx, py-t*dy) - w/2
	}
}

func roundedSquare(m, r float64) shape {
	return func(x, y float64) float64 {
		qx := math.Abs(x-0.5) - (0.5 - m - r)
		qy := math.Abs(y-0.5) - (0.5 - m - r)
		return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - r
	}
}

func union(s ...shape) shape {
	return func(x, y float64) float64 {
		d := math.Inf(1)
		for _, f := range s {
			d = math.Min(d, f(x, y))
		}
		return d
	}
}

// minus cuts b out of a.
func minus(a, b shape) shape {
	return func(x, y float64) float64 { return math.Max(a(x, y), -b(x, y)) }
}

type layer struct {
	s shape
	c color.NRGBA
}

// render draws layers bottom to top with 4×4 supersampling.
func render(size int, layers ...layer) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for py := range size {
		for px := range size {
			var r, g, b, a float64
			for sy := range ss {
				for sx := range ss {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					var cr, cg, cb, ca float64 // premultiplied
					for _, l := range layers {
						if l.s(x, y) <= 0 {
							la := float64(l.c.A) / 255
							cr = float64(l.c.R)/255*la + cr*(1-la)
							cg = float64(l.c.G)/255*la + cg*(1-la)
							cb = float64(l.c.B)/255*la + cb*(1-la)
							ca = la + ca*(1-la)
						}
					}
					r, g, b, a = r+cr, g+cg, b+cb, a+ca
				}
			}
			n := float64(ss * ss)
			r, g, b, a = r/n, g/n, b/n, a/n
			if a > 0 {
				img.SetNRGBA(px, py, color.NRGBA{
					R: uint8(math.Round(r / a * 255)), G: uint8(math.Round(g / a * 255)),
					B: uint8(math.Round(b / a * 255)), A: uint8(math.Round(a * 255)),
				})
			}
		}
	}
	return img
}

// glyph is kirotray's mark: a ring (the local proxy) with a chevron passing through it.
func glyph(cx, cy, scale float64) shape {
	s := scale
	return union(
		ring(cx, cy, 0.36*s, 0.11*s),
		segment(cx-0.12*s, cy-0.17*s, cx+0.07*s, cy, 0.11*s),
		segment(cx+0.07*s, cy, cx-0.12*s, cy+0.17*s, 0.11*s),
	)
}

// trayIcon draws the glyph in ink with a status dot at the bottom right
// (none when stopped; the ring is then drawn fainter).
//
// A thin halo in the opposite tone keeps either variant visible on a panel
// of the "wrong" brightness: the panel's colour cannot be known.
func trayIcon(ink color.NRGBA, dot *color.NRGBA) image.Image {
	g := glyph(0.45, 0.45, 1.05)
	halo := color.NRGBA{0xff, 0xff, 0xff, 0x90}
	if ink == inkLight {
		halo = color.NRGBA{0, 0, 0, 0x80}
	}
	grow := func(s shape, by float64) shape { return func(x, y float64) float64 { return s(x, y) - by } }
	if dot == nil {
		faint := ink
		faint.A = 0xb0
		return render(64, layer{grow(g, 0.03), halo}, layer{g, faint})
	}
	d := disk(0.80, 0.80, 0.16)
	cut := minus(g, disk(0.80, 0.80, 0.23))
	return render(64, layer{grow(cut, 0.03), halo}, layer{grow(d, 0.03), halo}, layer{cut, ink}, layer{d, *dot})
}

func appIcon() image.Image {
	return render(256, layer{roundedSquare(0.04, 0.2), indigo}, layer{glyph(0.5, 0.5, 1.0), white})
}

func icons() map[string]image.Image {
	return map[string]image.Image{
		"icon.png":               appIcon(),
		"tray-stopped-light.png": trayIcon(inkDark, nil),
		"tray-stopped-dark.png":  trayIcon(inkLight, nil),
		"tray-running-light.png": trayIcon(inkDark, &green),
		"tray-running-dark.png":  trayIcon(inkLight, &green),
		"tray-error-light.png":   trayIcon(inkDark, &red),
		"tray-error-dark.png":    trayIcon(inkLight, &red),
	}
}

// TestIcons checks the committed PNGs are what the drawing code makes
// (and rewrites them with -update), so icons never drift from their source.
func TestIcons(t *testing.T) {
	embedded := map[string][]byte{
		"icon.png": AppIcon, "tray-stopped-light.png": TrayStoppedLight, "tray-stopped-dark.png": TrayStoppedDark,
		"tray-running-light.png": TrayRunningLight, "tray-running-dark.png": TrayRunningDark,
		"tray-error-light.png": TrayErrorLight, "tray-error-dark.png": TrayErrorDark,
	}
	for name, img := range icons() {
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !bytes.Equal(buf.Bytes(), embedded[name]) {
			t.Errorf("%s differs from its drawing code: run go test ./assets -update", name)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(embedded[name]))
		if err != nil || cfg.Width != cfg.Height {
			t.Errorf("%s: %v, %dx%d", name, err, cfg.Width, cfg.Height)
		}
	}
}
