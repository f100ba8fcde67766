// Package browsertest starts Debian's chromium for the console's browser
// tests (internal/console and the processor-level test in internal/app).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Path finds Debian's chromium (CHROMIUM overrides). Without it a browser
// test fails under CI=true (make test and .ci/run install it with
// scripts/ensure-chromium.sh) and is skipped, saying so, elsewhere.
func Path(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "browser test needs Debian's chromium (apt-get install -y chromium, or scripts/ensure-chromium.sh; CHROMIUM=path overrides)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Tab starts headless chromium (bin, from Path) with env added to its
// environment (e.g. "TZ=Asia/Tokyo" for the operator's zone) and returns
// a tab, 1400x1000, that answers every JavaScript dialog (confirm) with
// OK. It ends after timeout or with the test.
func Tab(t *testing.T, bin string, timeout time.Duration, env ...string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000))
	if len(env) > 0 {
		opts = append(opts, chromedp.Env(env...))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	return ctx
}
