//go:build unix

package templates

import (
	"image/color"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// The screenshot's size, the window's.
const shotWidth, shotHeight = 800, 1000

// TestScreenshots renders the HTML of a quarantine digest (3 messages)
// and of a welcome mail in headless Chromium and checks what a machine
// can see of the picture: a PNG of the window's size, not one flat colour,
// and the layout's colours where the layout puts them (the page's grey
// background at the side, the header bar's blue above the white card).
// Skipped without Chromium unless CLEANMAIL_TEST_PEERS=required. With
// CLEANMAIL_SCREENSHOTS=dir the pictures are kept there, to be looked at.
func TestScreenshots(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		kind Kind
		lang string
	}{
		{"digest_spam", DigestSpam, "EN"},
		{"welcome", Welcome, "FR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := data(c.kind, 3)
			d.Location = paris
			m := render(t, c.kind, c.lang, d)
			img, shot := peertest.ScreenshotHTML(t, c.name, m.HTML, shotWidth, shotHeight)
			colours := map[color.RGBA]int{}
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					colours[rgba(img.At(x, y))]++
				}
			}
			// Text is anti-aliased: a page with words has many shades.
			if len(colours) < 32 {
				t.Errorf("the screenshot has %d colours, want at least 32 (text rendered)", len(colours))
			}
			total := shotWidth * shotHeight
			share := func(c color.RGBA) float64 { return float64(colours[c]) / float64(total) }
			blue, grey, white := color.RGBA{0x0f, 0x4c, 0x81, 0xff}, color.RGBA{0xf2, 0xf4, 0xf7, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}
			for _, want := range []struct {
				name string
				c    color.RGBA
				min  float64
			}{{"the header's blue", blue, 0.03}, {"the background's grey", grey, 0.10}, {"the card's white", white, 0.20}} {
				if s := share(want.c); s < want.min {
					t.Errorf("%s (%v) covers %.1f%% of the screenshot, want at least %.0f%%", want.name, want.c, 100*s, 100*want.min)
				}
			}
			// The card is centred (640 px in 800): grey at the sides, the
			// header's blue at the top of the middle, white below it.
			for _, p := range []struct {
				x, y int
				c    color.RGBA
			}{{20, 500, grey}, {780, 500, grey}, {400, 30, blue}, {760, 30, grey}, {400, 150, white}} {
				if got := rgba(img.At(p.x, p.y)); got != p.c {
					t.Errorf("the pixel at (%d, %d) is %v, want %v", p.x, p.y, got, p.c)
				}
			}
			if t.Failed() {
				t.Logf("the screenshot: %s (keep it with CLEANMAIL_SCREENSHOTS=dir)", shot)
			}
		})
	}
}

func rgba(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}
