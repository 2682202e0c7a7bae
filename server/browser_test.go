package server

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/server/browsertest"
)

// TestBrowser drives the dashboard in Chromium the way a customer would
// (see browsertest.CustomerFlow) while the task's life is simulated in the
// store, and checks what the browser got: the problems of a bad upload by
// line, the downloaded winner, the network counter.
func TestBrowser(t *testing.T) {
	if browsertest.Chromium() == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	e := newEnv(t, Options{})
	res := browsertest.CustomerFlow(t, browsertest.Flow{
		BaseURL: e.ts.URL, Key: e.customer, Model: "tiny-llama",
		BadDataset: "testdata/bad.jsonl", BadLines: []string{"bad.jsonl:3:", "bad.jsonl:5:"},
		Dataset: "testdata/instruct.jsonl", WantType: "instruct",
		Started: e.simulate,
	})
	f, err := os.Open(res.Download)
	must(t, err)
	names := tarNames(t, f)
	f.Close()
	if strings.Join(names, ",") != "config.json,model.safetensors" {
		t.Fatalf("downloaded archive holds %v", names)
	}
	if res.TasksShown != "1" || res.MinersShown != "3" || res.ValidatorsShown != "1" || len(res.Shots) != 8 {
		t.Fatalf("network page counts %q tasks, %q miners, %q validators; %d screenshots", res.TasksShown, res.MinersShown, res.ValidatorsShown, len(res.Shots))
	}
}

// TestNewTaskPagesInBrowser drives the new-task form's options in Chromium
// at desktop and phone widths: the options open (test set, hints, rewards),
// the confirm step of a task with its own test set and hints (price,
// credit, warnings), a grpo task made from the form's reward rows and a
// Starlark reward typed into it (created, and stored exactly as typed), the
// account page with its credit, and a task page offering an adapter
// winner merged. Nothing may be wider than the screen.
func TestNewTaskPagesInBrowser(t *testing.T) {
	if browsertest.Chromium() == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	e := newEnvWith(t, Options{}, func(b *testBackend) Backend { return delivering{b} })
	var b api.AccountBalance
	e.do(e.customer, "GET", api.PathAccount, nil, http.StatusOK, &b)
	e.do(e.admin, "PUT", api.PathAccounts+"/"+b.Account.ID+"/credit", api.SetCreditRequest{CreditLimit: 3}, http.StatusOK, nil)
	done := e.createTask(e.customer, true)
	e.simulate(done.ID)
	e.adapterWinner(done.ID)
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join("testdata", p))
		must(t, err)
		return a
	}
	code := "def reward(prompt, completion, extra):\n    # \"quotes\" & <tags> stay as typed\n    return 1.0 if extra[\"answer\"] in completion else 0.0\n"
	type acts = []chromedp.Action[chromedp.Void]
	shots := browsertest.LookAt(t, e.ts.URL, e.customer, "new-", []browsertest.Page{
		{Name: "options", Path: "/tasks/new", WaitFor: "#choose",
			Actions: acts{chromedp.Click(chromedp.CSS("#options > summary"))}, Then: "#reward-code"},
		{Name: "confirm", Path: "/tasks/new", WaitFor: "#choose", Actions: acts{
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs("instruct.jsonl")}),
			chromedp.Click(chromedp.CSS("#options > summary")),
			chromedp.SendKeys(chromedp.CSS(`input[name="hours"]`), "0.5"),
			chromedp.SetUploadFiles(chromedp.ID("test-file"), []string{abs("instruct.jsonl")}),
			chromedp.SetValue(chromedp.ID("hint-lora"), "lora"),
			chromedp.SendKeys(chromedp.CSS(`input[name="hint_lora_rank"]`), "16"),
			chromedp.SendKeys(chromedp.CSS(`input[name="hint_learning_rate"]`), "2e-4"),
			chromedp.Click(chromedp.ID("check")),
		}, Then: "#confirm #price"},
		{Name: "grpo", Path: "/tasks/new", WaitFor: "#choose", Actions: acts{
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs("prompts.jsonl")}),
			chromedp.Click(chromedp.CSS("#options > summary")),
			chromedp.SendKeys(chromedp.CSS(`input[name="reward_name_0"]`), "numeric_answer"),
			chromedp.SendKeys(chromedp.CSS(`textarea[name="reward_args_0"]`), "field=answer"),
			chromedp.SendKeys(chromedp.CSS(`input[name="reward_code_name"]`), "has_answer"),
			chromedp.SendKeys(chromedp.CSS(`input[name="reward_code_weight"]`), "0.5"),
			chromedp.SetValue(chromedp.ID("reward-code"), code),
			chromedp.Click(chromedp.ID("check")),
			chromedp.WaitVisible(chromedp.CSS("#confirm #reward-list")),
			chromedp.Click(chromedp.ID("submit")),
		}, Then: "#live"},
		{Name: "account", Path: "/keys", WaitFor: "#credit-left"},
		{Name: "adapter-task", Path: "/tasks/" + done.ID, WaitFor: "#download-merged"},
	})
	if len(shots) != 10 {
		t.Errorf("%d screenshots", len(shots))
	}
	// The two grpo tasks (one a width) hold what was typed, the Starlark
	// code to the byte.
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, &list)
	grpo := 0
	for _, task := range list.Tasks {
		if task.Type != crucible.TaskGRPO {
			continue
		}
		grpo++
		want := []crucible.Reward{{Name: "numeric_answer", Weight: 1, Args: map[string]any{"field": "answer"}}, {Name: "has_answer", Weight: 0.5, Code: code}}
		if !reflect.DeepEqual(task.Rewards, want) {
			t.Errorf("grpo task from the browser has rewards %#v", task.Rewards)
		}
	}
	if grpo != 2 {
		t.Errorf("%d grpo tasks created in the browser, want one per width", grpo)
	}
}
