package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one dashboard page to look at: its path, an element to wait for,
// and actions to run once it shows (filling a form, say), after which the
// element Then names is waited for.
type Page struct {
	Name    string // the screenshot's name
	Path    string
	WaitFor string // a CSS selector
	Actions []chromedp.Action[chromedp.Void]
	Then    string // a CSS selector to wait for after Actions
}

// Widths are the viewport widths pages are checked at: a desktop and a
// 390-pixel phone.
var Widths = []int64{1280, 390}

// MinChartText is the least height, in CSS pixels, of a chart's text as
// shown (a chart is scaled to its box): smaller is unreadable.
const MinChartText = 10.0

// LookAt logs in with key and shows each page at each of Widths: it takes a
// screenshot (PREFIX-NAME-WIDTH.png) and fails the test when the page is
// wider than the viewport (something overflows sideways: a chart, a table,
// a long URL) or shows a chart's text smaller than MinChartText. It
// returns the screenshots' paths.
func LookAt(t testing.TB, baseURL, key, prefix string, pages []Page) []string {
	t.Helper()
	exe := Chromium()
	if exe == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	dir := ArtifactsDir(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	defer cancelTimeout()
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", step, err)
		}
	}
	do("log in", chromedp.Navigate(baseURL+"/login"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	var shots []string
	for _, p := range pages {
		for _, w := range Widths {
			do(fmt.Sprintf("%s at %d px", p.Name, w), chromedp.EmulateViewport(w, 900), chromedp.Navigate(baseURL+p.Path),
				chromedp.WaitVisible(chromedp.CSS(p.WaitFor)))
			if len(p.Actions) > 0 {
				do(p.Name+": actions", p.Actions...)
				if p.Then != "" {
					do(p.Name+": after the actions", chromedp.WaitVisible(chromedp.CSS(p.Then)))
				}
			}
			// The smallest chart text shown, as rendered: a chart scaled down
			// to the screen must keep its labels readable.
			small, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`Math.min(99, ...[...document.querySelectorAll('svg.chart text')].map(e => e.getBoundingClientRect().height).filter(h => h > 0))`))
			if err != nil {
				t.Fatalf("browser: %s: %v", p.Name, err)
			}
			over, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
			if err != nil {
				t.Fatalf("browser: %s: %v", p.Name, err)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("browser: %s: screenshot: %v", p.Name, err)
			}
			path := filepath.Join(dir, fmt.Sprintf("%s%s-%d.png", prefix, p.Name, w))
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			shots = append(shots, path)
			if small < MinChartText {
				t.Errorf("browser: %s at %d px shows chart text %.1f px high, under %g px: unreadable; see %s", p.Name, w, small, MinChartText, path)
			}
			if over > 0 {
				wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : '')).join(', ')`))
				t.Errorf("browser: %s is %d px wider than a %d px viewport (%s); see %s", p.Name, over, w, wide, path)
			}
		}
	}
	t.Logf("browser: screenshots in %s", dir)
	return shots
}
