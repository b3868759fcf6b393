package peertest

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Chromium is Debian's Chromium (package chromium), run headless.
const Chromium = "/usr/bin/chromium"

// screenshotTimeout bounds one headless Chromium run.
const screenshotTimeout = 60 * time.Second

// Screenshot has headless Chromium take a PNG picture, shot, of the page
// (a local HTML file) in a window of width×height pixels, within 60 s. It
// runs with a profile and a home of its own in a temporary directory, and
// in a process group of its own, killed after the run, so that nothing of
// it outlives the call. Without Chromium the test is skipped, saying so
// (failed with CLEANMAIL_TEST_PEERS=required); it need not be root.
func Screenshot(t testing.TB, page, shot string, width, height int) {
	t.Helper()
	if fi, err := os.Stat(Chromium); err != nil || fi.IsDir() {
		unavailable(t, fmt.Sprintf("Chromium is not installed (missing %s; apt-get install chromium)", Chromium))
	}
	ctx, cancel := context.WithTimeout(t.Context(), screenshotTimeout)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, Chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(home, "profile"),
		"--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", width, height),
		"file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // a helper left behind, if any
	}
	if err != nil {
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		t.Fatalf("chromium (within %v): %v\n%s", screenshotTimeout, err, out)
	}
}

// ScreenshotHTML renders html (a whole document) in a window of
// width×height pixels (Screenshot) and returns the picture, decoded and
// checked to be a PNG of that size, and the file it is in: name.png in
// CLEANMAIL_SCREENSHOTS when that is set (kept, to be looked at), else in
// the test's temporary directory.
func ScreenshotHTML(t testing.TB, name, html string, width, height int) (image.Image, string) {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("CLEANMAIL_SCREENSHOTS"); keep != "" {
		abs, err := filepath.Abs(keep)
		if err != nil || os.MkdirAll(abs, 0o755) != nil {
			t.Fatalf("CLEANMAIL_SCREENSHOTS=%s: cannot create it", keep)
		}
		dir = abs
	}
	page, shot := filepath.Join(dir, name+".html"), filepath.Join(dir, name+".png")
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(shot)
	Screenshot(t, page, shot, width, height)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Fatalf("the screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	return img, shot
}
