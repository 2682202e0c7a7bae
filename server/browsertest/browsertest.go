// Package browsertest drives the dashboard in a real browser (Debian's
// Chromium, headless, through chromedp) the way a customer uses it: log in,
// upload a bad dataset and read its problems, upload a good one, confirm
// the detected mapping, watch the task to the end with live updates,
// download the winner and look at the network page. It saves a screenshot
// of every page.
//
// It is for tests only: the server's own test runs it against a simulated
// lifecycle, and a test of a whole network can run it against the real one.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Chromium returns the path of Debian's Chromium, or "" when there is none.
func Chromium() string {
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

// ArtifactsDir is where screenshots go: $CRUCIBLE_TEST_ARTIFACTS, else a
// temporary directory of the test.
func ArtifactsDir(t testing.TB) string {
	if dir := os.Getenv("CRUCIBLE_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// Flow says what CustomerFlow does.
type Flow struct {
	BaseURL string // the dashboard, e.g. http://127.0.0.1:8090
	Key     string // the customer's API key
	Model   string // a model from the form's list
	// BadDataset, when set, is a file with problems on known lines: the
	// flow uploads it first and expects each of BadLines ("name:line:")
	// among the problems shown.
	BadDataset string
	BadLines   []string
	Dataset    string // a good dataset file
	// WantType is the task type detection should show; empty skips the check.
	WantType string
	// Hours, when set, is typed into the form's training budget (under
	// Options); otherwise the validator chooses it.
	Hours string
	// Started is called with the task's id once its page shows; a test
	// that simulates the validator runs the task's life in it.
	Started func(id string)
	// Timeout bounds the whole flow, task run included. Defaults to 1 min.
	Timeout time.Duration
	// Shots is the screenshot directory; ArtifactsDir when empty. Prefix
	// starts every screenshot's name.
	Shots, Prefix string
}

// Result is what the flow saw.
type Result struct {
	TaskID     string
	Download   string // the downloaded archive
	Problems   string // the problems shown for BadDataset
	TasksShown string // the network page's task counter
	// MinersShown and ValidatorsShown are the network page's node counters.
	MinersShown, ValidatorsShown string
	Shots                        []string // screenshot files
}

// CustomerFlow runs the flow; it skips the test when there is no Chromium.
func CustomerFlow(t testing.TB, f Flow) *Result {
	t.Helper()
	exe := Chromium()
	if exe == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	if f.Timeout <= 0 {
		f.Timeout = time.Minute
	}
	if f.Shots == "" {
		f.Shots = ArtifactsDir(t)
	}
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
	ctx, cancelTimeout := context.WithTimeout(ctx, f.Timeout)
	defer cancelTimeout()

	res := &Result{}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			path := filepath.Join(f.Shots, f.Prefix+name+".png")
			res.Shots = append(res.Shots, path)
			return os.WriteFile(path, png, 0o644)
		})
	}
	// formError fails the test with the error the form shows, if any.
	formError := func(step string) {
		t.Helper()
		if msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("form-error"), chromedp.AtLeast(0))); err == nil && strings.TrimSpace(msg) != "" {
			t.Fatalf("browser: %s: the form says: %s", step, strings.TrimSpace(msg))
		}
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", step, err)
		}
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("browser: read #%s: %v", id, err)
		}
		return strings.TrimSpace(s)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	do("log in",
		chromedp.Navigate(f.BaseURL+"/tasks/new"), // redirects to the login form
		chromedp.WaitVisible(chromedp.ID("key")),
		shot("01-login"),
		chromedp.SendKeys(chromedp.ID("key"), f.Key),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("choose")),
	)

	// The four clicks: model, dataset, check, start.
	if f.BadDataset != "" {
		do("upload a bad dataset",
			chromedp.SetValue(chromedp.ID("model"), f.Model),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(f.BadDataset)}),
			chromedp.Click(chromedp.ID("check")),
			chromedp.WaitVisible(chromedp.CSS("#problems, #form-error")),
			shot("02-bad-upload"),
		)
		res.Problems = text("form-error")
		for _, want := range f.BadLines {
			if !strings.Contains(res.Problems, want) {
				t.Fatalf("browser: the problems shown for %s do not name %q: %q", f.BadDataset, want, res.Problems)
			}
		}
	}
	do("open a fresh form",
		chromedp.Navigate(f.BaseURL+"/tasks/new"), // without the last one's errors
		chromedp.WaitVisible(chromedp.ID("choose")),
	)
	if f.Hours != "" {
		do("set the budget",
			chromedp.Click(chromedp.CSS("details summary")),
			chromedp.SendKeys(chromedp.CSS(`input[name="hours"]`), f.Hours),
		)
	}
	do("upload the dataset",
		chromedp.SetValue(chromedp.ID("model"), f.Model),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(f.Dataset)}),
		chromedp.Click(chromedp.ID("check")),
		chromedp.WaitVisible(chromedp.CSS("#confirm, #form-error")),
		shot("03-confirm"),
	)
	formError("upload the dataset")
	if got := text("detected-type"); f.WantType != "" && got != f.WantType {
		t.Fatalf("browser: detected type %q, want %q", got, f.WantType)
	}

	do("start the task",
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.CSS("#live, #form-error")),
		shot("04-task-started"),
	)
	formError("start the task")
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	res.TaskID = location[strings.LastIndex(location, "/")+1:]
	if f.Started != nil {
		f.Started(res.TaskID)
	}

	// The open page follows the task live (no reload) until the download
	// button appears.
	do("watch the task finish", chromedp.WaitVisible(chromedp.ID("download")), shot("05-task-success"))
	if status := text("status"); status != "success" {
		t.Fatalf("browser: task %s ended %q", res.TaskID, status)
	}

	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	do("download the winner",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			events := true
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events})
			return err
		}),
		chromedp.Click(chromedp.ID("download")),
	)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("browser: download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			res.Download = filepath.Join(downloads, ev.GUID)
			break
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("browser: the download was cancelled")
		}
	}

	do("network page",
		chromedp.Navigate(f.BaseURL+"/"),
		chromedp.WaitVisible(chromedp.ID("count-tasks")),
		shot("06-network"),
	)
	res.TasksShown = text("count-tasks")
	res.MinersShown, res.ValidatorsShown = text("count-miners"), text("count-validators")
	do("task list",
		chromedp.Navigate(f.BaseURL+"/tasks"),
		chromedp.WaitVisible(chromedp.CSS("table.grid")),
		shot("07-tasks"),
		chromedp.Navigate(f.BaseURL+"/keys"),
		chromedp.WaitVisible(chromedp.ID("keys")),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "laptop"),
		chromedp.Click(chromedp.ID("create-key")),
		chromedp.WaitVisible(chromedp.ID("new-secret")),
		shot("08-keys"),
	)
	t.Logf("browser: screenshots in %s", f.Shots)
	return res
}

// String summarises a result.
func (r *Result) String() string {
	return fmt.Sprintf("task %s, download %s, %d screenshots", r.TaskID, r.Download, len(r.Shots))
}
