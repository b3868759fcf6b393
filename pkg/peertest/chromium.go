package peertest

import (
	"context"
	"fmt"
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
