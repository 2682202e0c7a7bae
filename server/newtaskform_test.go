package server

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// checkForm posts the new-task form's first step: fields, and files by
// form field (each a testdata file sent under the name given before ':').
func (e *env) checkForm(key string, fields url.Values, files map[string]string) (*http.Response, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for field, spec := range files {
		name, file, ok := strings.Cut(spec, ":")
		if !ok {
			file = name
		}
		fw, err := mw.CreateFormFile(field, name)
		must(e.t, err)
		b, err := os.ReadFile(filepath.Join("testdata", file))
		must(e.t, err)
		fw.Write(b)
	}
	mw.Close()
	return e.page(key, "POST", "/tasks/new", &buf, mw.FormDataContentType())
}

// hiddenFields reads the confirm step's fields as a browser would send them
// back: every input and textarea named in the confirm form.
func hiddenFields(t *testing.T, body string) url.Values {
	t.Helper()
	form := between(body, `<form method="post" action="/tasks" class="card" id="confirm">`, "</form>")
	if form == "" {
		t.Fatalf("no confirm form in %s", body)
	}
	vals := url.Values{}
	for _, part := range strings.Split(form, "<input ")[1:] {
		name := between(part, `name="`, `"`)
		if name != "" {
			vals.Add(name, unescape(between(part, `value="`, `"`)))
		}
	}
	for _, part := range strings.Split(form, "<textarea ")[1:] {
		name := between(part, `name="`, `"`)
		_, content, _ := strings.Cut(part, ">")
		content, _, _ = strings.Cut(content, "</textarea>")
		vals.Add(name, strings.TrimPrefix(unescape(content), "\n"))
	}
	return vals
}

func unescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#43;", "+", "&#10;", "\n", "&amp;", "&").Replace(s)
}

// TestDashboardFormOptions fills the form's options (its own test set,
// hints, an open competition, a budget) on an account with a credit limit:
// the confirm step shows the test set, the hints, the price and the credit
// left, and confirming stores the task with them; a task that would pass
// the limit is warned of, then refused with the uploads kept; the task
// page and the account page show what was chosen.
func TestDashboardFormOptions(t *testing.T) {
	e := newEnv(t, Options{})
	var b api.AccountBalance
	e.do(e.customer, "GET", api.PathAccount, nil, http.StatusOK, &b)
	e.do(e.admin, "PUT", api.PathAccounts+"/"+b.Account.ID+"/credit", api.SetCreditRequest{CreditLimit: 5}, http.StatusOK, nil)
	fields := url.Values{"model": {"tiny-llama"}, "hours": {"1"}, "competition": {"open"}, "hint_lora": {"lora"},
		"hint_lora_rank": {"16"}, "hint_learning_rate": {"2e-4"}, "hint_epochs": {"3"}}
	resp, body := e.checkForm(e.customer, fields, map[string]string{"file": "train.jsonl:instruct.jsonl", "test_file": "holdout.jsonl:instruct.jsonl"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("check: %s: %s", resp.Status, between(body, `id="form-error">`, "</div>"))
	}
	if err := contains(body, `id="test-name">holdout.jsonl`, "all 60 to train on; your test set's 60 for the hidden test",
		`id="hint-list">LoRA, rank 16, learning rate 0.0002, 3 epochs <`, `id="price"><b>4.00 USD</b>`,
		`id="credit">5.00 left of 5.00 (0.00 spent)`, `id="miners">0<`); err != nil {
		t.Fatal(err, between(body, `<dl class="facts">`, "</dl>"))
	}
	vals := hiddenFields(t, body)
	resp, _ = e.form(e.customer, "/tasks", vals)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/tasks/") {
		t.Fatalf("create: %s → %q", resp.Status, loc)
	}
	task, err := e.b.FindTask(t.Context(), strings.TrimPrefix(loc, "/tasks/"))
	must(t, err)
	yes := true
	if !reflect.DeepEqual(task.Hints, &crucible.Hints{LoRA: &yes, LoRARank: 16, LR: 2e-4, Epochs: 3}) ||
		!strings.HasPrefix(task.TestDataset, "upload:") || task.TestDataset == task.Dataset || task.DatasetName != "train.jsonl" ||
		task.Competition != "open" || task.HoursToComplete != 1 || task.Price != 4 || task.Currency != "USD" {
		t.Fatalf("stored %+v hints %+v", task, task.Hints)
	}
	_, page := e.page(e.customer, "GET", loc, nil, "")
	if err := contains(page, "Price <b>4.00 USD</b>", "your test set <b>holdout.jsonl</b>", "Hints to miners: LoRA, rank 16, learning rate 0.0002, 3 epochs."); err != nil {
		t.Fatal(err)
	}
	_, page = e.page(e.customer, "GET", "/tasks", nil, "")
	if !strings.Contains(page, "<td>4.00 USD</td>") {
		t.Fatal("the task list shows no price")
	}
	_, page = e.page(e.customer, "GET", "/keys", nil, "")
	if err := contains(page, `id="spent">4.00`, `id="credit-limit">5.00`, `id="credit-left"><b>1.00</b>`); err != nil {
		t.Fatal(err)
	}

	// A second hour-long task costs 4.00 with 1.00 left: the confirm step
	// warns, confirming is refused, and the form comes back with the
	// uploads and options kept.
	resp, body = e.checkForm(e.customer, fields, map[string]string{"file": "train.jsonl:instruct.jsonl", "test_file": "holdout.jsonl:instruct.jsonl"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "this task costs 4.00 USD; your account has 1.00 USD left of its 5.00 USD limit: starting the task would be refused") {
		t.Fatalf("over the limit: %s: %s", resp.Status, between(body, `id="warnings">`, "</ul>"))
	}
	resp, body = e.form(e.customer, "/tasks", hiddenFields(t, body))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("over the limit confirmed: %s", resp.Status)
	}
	if err := contains(body, `id="form-error"`, "your account has 1.00 USD left", `id="kept-dataset">Your upload <b>train.jsonl</b>`,
		`id="kept-test">Your test set <b>holdout.jsonl</b>`, `name="hint_lora_rank" min="1" max="1024" step="1" value="16"`,
		`<option value="open" selected>`); err != nil {
		t.Fatal(err)
	}
	// Lowering the budget on the form that came back needs no new upload.
	kept := url.Values{"model": {"tiny-llama"}, "hours": {"0.2"}, "kept_dataset": {between(body, `name="kept_dataset" value="`, `"`)},
		"test_dataset": {between(body, `name="test_dataset" value="`, `"`)}}
	resp, body = e.checkForm(e.customer, kept, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="price"><b>0.80 USD</b>`) || !strings.Contains(body, `id="test-name">holdout.jsonl`) {
		t.Fatalf("kept uploads: %s: %s", resp.Status, between(body, `id="form-error">`, "</div>"))
	}
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if list.Total != 1 {
		t.Fatalf("%d tasks stored", list.Total)
	}
}

// TestDashboardFormRewards makes a grpo task from the form: two built-ins
// (one with arguments holding a comma and '=') and a Starlark reward of
// the customer's own; the confirm step lists them and confirming stores
// them as typed. A reward the validator's check refuses is shown on the
// first step.
func TestDashboardFormRewards(t *testing.T) {
	e := newEnv(t, Options{})
	resp, body := e.page(e.customer, "GET", "/tasks/new", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<datalist id="builtin-rewards"><option value="numeric_answer">`) {
		t.Fatalf("form: %s", resp.Status)
	}
	code := "def reward(prompt, completion, extra):\n    if \"<\" in completion and '&' not in completion:\n        return 0.5\n    return 1.0\n"
	fields := url.Values{"model": {"tiny-llama"}, "reward_name_0": {"numeric_answer"}, "reward_args_0": {"field=answer"},
		"reward_name_1": {"regex_match"}, "reward_weight_1": {"0.25"}, "reward_args_1": {"pattern=^[0-9]{1,3}=?$\r\nfull = true"},
		"reward_code_name": {"short"}, "reward_code_weight": {"2"}, "reward_code": {strings.ReplaceAll(code, "\n", "\r\n")}}
	resp, body = e.checkForm(e.customer, fields, map[string]string{"file": "prompts.jsonl"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("check: %s: %s", resp.Status, between(body, `id="form-error">`, "</div>"))
	}
	if err := contains(body, `id="detected-type">grpo<`, `<code>numeric_answer</code> ×1 <code>regex_match</code> ×0.25 <code>short</code> ×2`); err != nil {
		t.Fatal(err)
	}
	resp, _ = e.form(e.customer, "/tasks", hiddenFields(t, body))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s", resp.Status)
	}
	task, err := e.b.FindTask(t.Context(), strings.TrimPrefix(loc, "/tasks/"))
	must(t, err)
	want := []crucible.Reward{{Name: "numeric_answer", Weight: 1, Args: map[string]any{"field": "answer"}},
		{Name: "regex_match", Weight: 0.25, Args: map[string]any{"pattern": "^[0-9]{1,3}=?$", "full": "true"}},
		{Name: "short", Weight: 2, Code: code}}
	if task.Type != crucible.TaskGRPO || !reflect.DeepEqual(task.Rewards, want) {
		t.Fatalf("stored %s task with rewards %#v", task.Type, task.Rewards)
	}
	// The validator's check of the rewards runs on the first step.
	fields = url.Values{"model": {"tiny-llama"}, "reward_name_0": {"no_such_reward"}}
	resp, body = e.checkForm(e.customer, fields, map[string]string{"file": "prompts.jsonl"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "reward no_such_reward: no built-in reward of this name") ||
		!strings.Contains(body, `id="kept-dataset">Your upload <b>prompts.jsonl</b>`) || !strings.Contains(body, `value="no_such_reward"`) {
		t.Fatalf("unknown reward: %s: %s", resp.Status, between(body, `id="form-error">`, "</div>"))
	}
}

// TestDashboardFormAttacks sends the form what a browser would not: values
// out of range or not numbers (NaN and Inf included), hostile reward names,
// arguments and code, and forged hidden fields on the confirm step naming
// another account's uploads or server paths. Each is refused with a clear
// error at either step, another account's upload is never named back, and
// nothing is stored.
func TestDashboardFormAttacks(t *testing.T) {
	e := newEnv(t, Options{})
	var mine, theirs api.DatasetUpload
	e.upload(e.customer, "prompts.jsonl", http.StatusCreated, &mine)
	e.upload(e.other, "instruct.jsonl", http.StatusCreated, &theirs)
	manyArgs := ""
	for i := range maxArgs + 1 {
		manyArgs += "k" + strings.Repeat("x", i) + "=1\n"
	}
	for _, c := range []struct {
		name   string
		fields url.Values
		want   string
	}{
		{"NaN hours", url.Values{"hours": {"NaN"}}, `training budget in hours: &#34;NaN&#34; is not a number`},
		{"hours past a week", url.Values{"hours": {"169"}}, "hours must be between 0 (choose for me) and 168"},
		{"infinite learning rate", url.Values{"hint_learning_rate": {"+Inf"}}, "hints: learning rate"},
		{"learning rate above 1", url.Values{"hint_learning_rate": {"3"}}, "learning_rate 3 is not between 0 and 1"},
		{"rank on full fine-tuning", url.Values{"hint_lora": {"full"}, "hint_lora_rank": {"8"}}, "lora_rank is set but lora is false"},
		{"rank bomb", url.Values{"hint_lora_rank": {"100000"}}, "lora_rank 100000 is not between 1 and 1024"},
		{"method", url.Values{"hint_lora": {"both"}}, "method &#34;both&#34;: want lora or full"},
		{"fractional batch", url.Values{"hint_batch_size": {"2.5"}}, "hints: batch size: &#34;2.5&#34; is not a whole number"},
		{"tournament", url.Values{"competition": {"tournament"}}, "competition &#34;tournament&#34;: want open or champion"},
		{"reward name with a path", url.Values{"reward_name_0": {"../../etc/passwd"}}, "reward name &#34;../../etc/passwd&#34;"},
		{"NaN weight", url.Values{"reward_name_0": {"numeric_answer"}, "reward_weight_0": {"NaN"}}, "reward 1 (numeric_answer): weight: &#34;NaN&#34; is not a number"},
		{"negative weight", url.Values{"reward_name_0": {"numeric_answer"}, "reward_weight_0": {"-1"}}, "must be a finite number ≥ 0"},
		{"weights summing to 0", url.Values{"reward_name_0": {"numeric_answer"}, "reward_weight_0": {"0"}}, "sum to 0"},
		{"args without a name", url.Values{"reward_args_1": {"field=answer"}}, "reward 2: pick a built-in reward for its weight and arguments"},
		{"argument without =", url.Values{"reward_name_0": {"numeric_answer"}, "reward_args_0": {"field"}}, "argument line 1 &#34;field&#34; is not key=value"},
		{"argument twice", url.Values{"reward_name_0": {"numeric_answer"}, "reward_args_0": {"field=a\nfield=b"}}, "argument &#34;field&#34; is given twice"},
		{"argument flood", url.Values{"reward_name_0": {"numeric_answer"}, "reward_args_0": {manyArgs}}, "more than 16 arguments"},
		{"code too large", url.Values{"reward_code": {"#" + strings.Repeat("x", crucible.MaxRewardCodeSize)}}, "over the 65536-byte limit"},
		{"weight without code", url.Values{"reward_code_name": {"mine"}, "reward_code_weight": {"2"}}, "your reward mine has no code"},
		{"rewards on an instruct task", url.Values{"type": {"instruct"}, "reward_name_0": {"numeric_answer"}}, "rewards are for grpo tasks, not instruct tasks"},
		{"another account's test set", url.Values{"test_dataset": {theirs.Ref()}}, "no upload " + theirs.ID + " of yours"},
		{"a server path as test set", url.Values{"test_dataset": {"/etc/passwd"}}, "is not an upload (upload:ID)"},
		{"the dataset as its own test set", url.Values{"test_dataset": {mine.Ref()}}, "the test set is the dataset itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, step := range []string{"check", "confirm"} {
				vals := url.Values{"model": {"tiny-llama"}, "dataset": {mine.Ref()}}
				for k, v := range c.fields {
					vals[k] = v
				}
				var resp *http.Response
				var body string
				if step == "check" {
					resp, body = e.checkForm(e.customer, vals, nil)
				} else {
					resp, body = e.form(e.customer, "/tasks", vals)
				}
				if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, c.want) {
					t.Fatalf("%s step: %s, error %q; want one saying %q", step, resp.Status, between(body, `id="form-error">`, "</div>"), c.want)
				}
				if strings.Contains(body, "instruct.jsonl") || strings.Contains(body, theirs.ID+`"`) {
					t.Fatalf("%s step: the form names another account's upload", step)
				}
			}
		})
	}
	// Another account's upload as the dataset, forged on the confirm step
	// or kept on the first: refused, and not named back.
	for _, vals := range []url.Values{{"dataset": {theirs.Ref()}}, {"kept_dataset": {theirs.Ref()}}} {
		vals.Set("model", "tiny-llama")
		resp, body := e.form(e.customer, "/tasks", vals)
		resp2, body2 := e.checkForm(e.customer, vals, nil)
		for _, r := range []struct {
			resp *http.Response
			body string
		}{{resp, body}, {resp2, body2}} {
			if r.resp.StatusCode != http.StatusNotFound || strings.Contains(r.body, "instruct.jsonl") || strings.Contains(r.body, `value="`+theirs.Ref()) {
				t.Fatalf("another account's dataset %v: %s", vals, r.resp.Status)
			}
		}
	}
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if list.Total != 0 {
		t.Fatalf("refused forms stored %d tasks", list.Total)
	}
	// Without a login neither step does anything.
	resp, _ := e.form("", "/tasks", url.Values{"model": {"tiny-llama"}, "dataset": {mine.Ref()}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous confirm: %s", resp.Status)
	}
}

// delivering is the test backend with a deliverer: a winner's archive, its
// one folder named as the validator names it.
type delivering struct{ *testBackend }

func (d delivering) Deliver(ctx context.Context, t *crucible.Task, merged bool) (io.ReadCloser, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	folder := "crucible-" + t.ID
	if merged {
		folder += "-merged"
	}
	cfg := []byte(`{"model_type": "llama"}`)
	if err := tw.WriteHeader(&tar.Header{Name: folder + "/config.json", Mode: 0o644, Size: int64(len(cfg))}); err != nil {
		return nil, err
	}
	tw.Write(cfg)
	tw.Close()
	return io.NopCloser(&buf), nil
}

// adapterWinner makes the simulated task's winner a LoRA adapter.
func (e *env) adapterWinner(id string) {
	e.t.Helper()
	task, err := e.b.FindTask(e.t.Context(), id)
	must(e.t, err)
	s, err := e.b.FindSubmission(e.t.Context(), id, task.Winner)
	must(e.t, err)
	s.IsAdapter = true
	must(e.t, e.b.UpdateSubmission(e.t.Context(), s))
}

// TestTaskPageMergedDownload: a task whose winner is a LoRA adapter offers
// it merged into its base beside the adapter (on a validator that merges),
// and the link downloads the merged folder; a full-model winner, or a
// validator that does not merge, offers only the winner as it is.
func TestTaskPageMergedDownload(t *testing.T) {
	e := newEnvWith(t, Options{}, func(b *testBackend) Backend { return delivering{b} })
	task := e.createTask(e.customer, true)
	e.simulate(task.ID)
	_, page := e.page(e.customer, "GET", "/tasks/"+task.ID, nil, "")
	if strings.Contains(page, "download-merged") {
		t.Fatal("a full-model winner is offered merged")
	}
	e.adapterWinner(task.ID)
	_, page = e.page(e.customer, "GET", "/tasks/"+task.ID, nil, "")
	href := between(page, `id="download-merged" href="`, `"`)
	if href != "/tasks/"+task.ID+"/download?merged=true" {
		t.Fatalf("merged link %q", href)
	}
	resp, body := e.page(e.customer, "GET", href, nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "crucible-"+task.ID+"-merged.tar") {
		t.Fatalf("merged download: %s %q", resp.Status, resp.Header.Get("Content-Disposition"))
	}
	if names := tarNames(t, strings.NewReader(body)); len(names) != 1 || names[0] != "crucible-"+task.ID+"-merged/config.json" {
		t.Fatalf("merged archive holds %v", names)
	}
	// Another account cannot download a private task's winner.
	if resp, _ := e.page(e.other, "GET", href, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another account's merged download: %s", resp.Status)
	}
	// A validator that does not merge does not offer it.
	plain := newEnv(t, Options{})
	task = plain.createTask(plain.customer, false)
	plain.simulate(task.ID)
	plain.adapterWinner(task.ID)
	if _, page := plain.page(plain.customer, "GET", "/tasks/"+task.ID, nil, ""); strings.Contains(page, "download-merged") || !strings.Contains(page, `id="download"`) {
		t.Fatal("a validator that does not merge offers a merged download")
	}
}

// An estimate with the customer's own test set says so: every row of the
// dataset trained on, the test set's rows the hidden test.
func TestEstimateWithOwnTestSet(t *testing.T) {
	e := newEnv(t, Options{})
	var data, test api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &data)
	e.upload(e.customer, "prompts.jsonl", http.StatusCreated, &test)
	var est api.Estimate
	e.do(e.customer, "POST", api.PathEstimate, api.CreateTaskRequest{Model: "tiny-llama", Dataset: data.Ref(), TestDataset: test.Ref()}, http.StatusOK, &est)
	if !est.OwnTestSet || est.TrainRows != 60 || est.TestRows != 60 || est.Rows != 60 {
		t.Fatalf("estimate %+v", est)
	}
	var split api.Estimate
	e.do(e.customer, "POST", api.PathEstimate, api.CreateTaskRequest{Model: "tiny-llama", Dataset: data.Ref()}, http.StatusOK, &split)
	if split.OwnTestSet || split.TrainRows != 54 || split.TestRows != 6 {
		t.Fatalf("estimate without a test set %+v", split)
	}
}
