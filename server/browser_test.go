package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// artifactsDir is where the browser test leaves its screenshots:
// $CRUCIBLE_TEST_ARTIFACTS, else a temporary directory.
func artifactsDir(t *testing.T) string {
	if dir := os.Getenv("CRUCIBLE_TEST_ARTIFACTS"); dir != "" {
		must(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}

// TestBrowser drives the dashboard in Chromium the way a customer would:
// log in, upload a bad dataset and read its errors, upload a good one,
// confirm the detected mapping, watch the task run to the end with live
// updates, download the winner, and look at the network page.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	e := newEnv(t, Options{})
	shots := artifactsDir(t)
	downloads := t.TempDir()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	ctx, cancelTimeout := context.WithTimeout(ctx, 45*time.Second)
	defer cancelTimeout()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(sel)))
		if err != nil {
			t.Fatalf("read #%s: %v", sel, err)
		}
		return s
	}
	base := e.ts.URL

	do("log in",
		chromedp.Navigate(base+"/tasks/new"), // redirects to the login form
		chromedp.WaitVisible(chromedp.ID("key")),
		shot("01-login"),
		chromedp.SendKeys(chromedp.ID("key"), e.customer),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("choose")),
	)

	// The four clicks: model, dataset, check, start. First with a bad file.
	bad, _ := filepath.Abs("testdata/bad.jsonl")
	do("upload a bad dataset",
		chromedp.SetValue(chromedp.ID("model"), "tiny-llama"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{bad}),
		chromedp.Click(chromedp.ID("check")),
		chromedp.WaitVisible(chromedp.ID("problems")),
		shot("02-bad-upload"),
	)
	if problems := text("problems"); contains(problems, "bad.jsonl:3:", "bad.jsonl:5:") != nil {
		t.Fatalf("problems shown: %q", problems)
	}

	good, _ := filepath.Abs("testdata/instruct.jsonl")
	do("upload a good dataset",
		chromedp.SetValue(chromedp.ID("model"), "tiny-llama"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{good}),
		chromedp.Click(chromedp.ID("check")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		shot("03-confirm"),
	)
	mapped, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name="map_field_output"]`)))
	if detected := text("detected-type"); err != nil || detected != "instruct" || mapped != "output" {
		t.Fatalf("detected %q, output column %q (%v)", detected, mapped, err)
	}

	do("start the task",
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("live")),
		shot("04-task-pending"),
	)
	location, err := chromedp.Run(ctx, chromedp.Location())
	must(t, err)
	id := location[strings.LastIndex(location, "/")+1:]
	if status := text("status"); status != "pending" || id == "" {
		t.Fatalf("task page %s shows %q", location, status)
	}

	// The validator runs the task; the open page follows it live (no
	// reload) until the download button appears.
	e.simulate(id)
	do("watch it finish", chromedp.WaitVisible(chromedp.ID("download")), shot("05-task-success"))
	if status := text("status"); status != "success" {
		t.Fatalf("status after the run: %q", status)
	}

	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	do("download the winner",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true)})
			return err
		}),
		chromedp.Click(chromedp.ID("download")),
	)
	var guid string
	for ev, err := range progress {
		must(t, err)
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	f, err := os.Open(filepath.Join(downloads, guid))
	must(t, err)
	names := tarNames(t, f)
	f.Close()
	if strings.Join(names, ",") != "config.json,model.safetensors" {
		t.Fatalf("downloaded archive holds %v", names)
	}

	do("network page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("leaderboard")),
		shot("06-network"),
	)
	if count := text("count-tasks"); count != "1" {
		t.Fatalf("network page counts %q tasks", count)
	}
	do("task list",
		chromedp.Navigate(base+"/tasks"),
		chromedp.WaitVisible(chromedp.CSS("table.grid")),
		shot("07-tasks"),
	)
	t.Logf("screenshots in %s", shots)
}

func ptr[T any](v T) *T { return &v }
