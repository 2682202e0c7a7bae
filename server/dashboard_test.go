package server

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// page fetches a dashboard page with the login cookie of key (none when
// empty), without following redirects.
func (e *env) page(key, method, path string, body io.Reader, contentType string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	must(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: key})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// form posts an HTML form.
func (e *env) form(key, path string, vals url.Values) (*http.Response, string) {
	return e.page(key, "POST", path, strings.NewReader(vals.Encode()), "application/x-www-form-urlencoded")
}

// uploadForm posts the new-task form with a testdata file.
func (e *env) uploadForm(key, file string, fields map[string]string) (*http.Response, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != "" {
		fw, err := mw.CreateFormFile("file", file)
		must(e.t, err)
		b, err := os.ReadFile(filepath.Join("testdata", file))
		must(e.t, err)
		fw.Write(b)
	}
	mw.Close()
	return e.page(key, "POST", "/tasks/new", &buf, mw.FormDataContentType())
}

func TestDashboardLogin(t *testing.T) {
	e := newEnv(t, Options{})
	resp, _ := e.page("", "GET", "/tasks", nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Ftasks" {
		t.Fatalf("anonymous /tasks: %s → %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := e.form("", "/login", url.Values{"key": {"crk_wrong"}, "next": {"/tasks"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unknown API key") {
		t.Fatalf("bad login: %s", resp.Status)
	}
	resp, _ = e.form("", "/login", url.Values{"key": {e.customer}, "next": {"https://evil.example/"}})
	ck := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tasks" || len(ck) != 1 ||
		!ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Value != e.customer {
		t.Fatalf("login: %s → %q, cookies %+v", resp.Status, resp.Header.Get("Location"), ck)
	}
	resp, body = e.page(e.customer, "GET", "/tasks", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") || !strings.Contains(body, "No tasks yet") {
		t.Fatalf("/tasks: %s", resp.Status)
	}
	// A revoked key's cookie is dropped.
	var keys []map[string]any
	e.do(e.customer, "GET", "/v1/keys", nil, http.StatusOK, &keys)
	e.do(e.customer, "DELETE", "/v1/keys/"+keys[0]["id"].(string), nil, http.StatusOK, nil)
	resp, _ = e.page(e.customer, "GET", "/tasks", nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoked cookie: %s", resp.Status)
	}
	resp, _ = e.page("", "GET", "/static/style.css", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}

func TestDashboardNewTask(t *testing.T) {
	e := newEnv(t, Options{})
	resp, body := e.page(e.customer, "GET", "/tasks/new", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<option value="tiny-llama"`) || !strings.Contains(body, "crucible/tiny-instruct") {
		t.Fatalf("new task form: %s", resp.Status)
	}
	// A bad upload comes back with its problems, by line.
	resp, body = e.uploadForm(e.customer, "bad.jsonl", map[string]string{"model": "tiny-llama"})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad upload: %s", resp.Status)
	}
	if err := contains(body, "bad.jsonl has 2 problem(s)", "<code>bad.jsonl:3: broken JSON", "<code>bad.jsonl:5: broken JSON"); err != nil {
		t.Fatal(err)
	}
	// An unknown model is refused on the form too.
	resp, body = e.uploadForm(e.customer, "instruct.jsonl", map[string]string{"model": "gpt-9"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown model") {
		t.Fatalf("unknown model: %s", resp.Status)
	}
	// A good one shows the detected mapping and the estimate.
	resp, body = e.uploadForm(e.customer, "instruct.jsonl", map[string]string{"model": "tiny-llama"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("good upload: %s: %s", resp.Status, body)
	}
	if err := contains(body, `name="map_field_instruction" value="instruction"`, `name="map_field_output" value="output"`,
		`id="detected-type">instruct<`, "54 to train on, 6 held out", "Start training"); err != nil {
		t.Fatal(err)
	}
	dataset := between(body, `name="dataset" value="`, `"`)
	if !strings.HasPrefix(dataset, "upload:") {
		t.Fatalf("dataset field %q", dataset)
	}
	// Confirming creates the task, with the mapping as edited.
	resp, _ = e.form(e.customer, "/tasks", url.Values{"model": {"tiny-llama"}, "dataset": {dataset}, "type": {"instruct"},
		"map_field_instruction": {"instruction"}, "map_field_output": {"output"}, "private": {"1"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/tasks/") {
		t.Fatalf("create: %s → %q", resp.Status, loc)
	}
	id := strings.TrimPrefix(loc, "/tasks/")
	task, err := e.b.FindTask(t.Context(), id)
	must(t, err)
	if !task.Private || task.Mapping.FieldInstruction != "instruction" || task.Mapping.FieldInput != "" {
		t.Fatalf("created %+v mapping %+v", task, task.Mapping)
	}
	// Picking a cached dataset instead of uploading works too.
	resp, body = e.uploadForm(e.customer, "", map[string]string{"model": "tiny-gpt2", "dataset": "crucible/tiny-instruct"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Start training") {
		t.Fatalf("picked dataset: %s", resp.Status)
	}
	// Nothing chosen.
	resp, body = e.uploadForm(e.customer, "", map[string]string{"model": "tiny-gpt2"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose a dataset") {
		t.Fatalf("no dataset: %s", resp.Status)
	}
}

func TestDashboardTaskPages(t *testing.T) {
	e := newEnv(t, Options{})
	private := e.createTask(e.customer, true)
	public := e.createTask(e.customer, false)
	e.simulate(public.ID)
	for _, tc := range []struct {
		key, id string
		status  int
	}{
		{"", public.ID, 200}, {e.other, public.ID, 200}, {"", private.ID, 404}, {e.other, private.ID, 404},
		{e.customer, private.ID, 200}, {e.admin, private.ID, 200}, {e.customer, "nope", 404},
	} {
		resp, _ := e.page(tc.key, "GET", "/tasks/"+tc.id, nil, "")
		if resp.StatusCode != tc.status {
			t.Errorf("task page %s with key %q: %s, want %d", tc.id, tc.key, resp.Status, tc.status)
		}
	}
	_, body := e.page("", "GET", "/tasks/"+public.ID, nil, "")
	if err := contains(body, `class="status success"`, `<svg class="chart wide"`, `<svg class="chart phone"`, "<polyline", `class="bar winner"`, `class="bar base"`,
		"★ winner", `id="download"`, "lowest test loss", "(-39.5%)", "test loss 1.1800"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, `id="cancel"`) {
		t.Fatal("an anonymous visitor is offered to cancel")
	}
	// Downloads need a key (any account's for a public task) unless the
	// operator opts in (TestPublicDownloadsOptIn).
	resp, _ := e.page("", "GET", "/tasks/"+public.ID+"/download?format=tar.gz", nil, "")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous download: %s", resp.Status)
	}
	resp, _ = e.page(e.other, "GET", "/tasks/"+public.ID+"/download?format=tar.gz", nil, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("download: %s", resp.Status)
	}
	resp, _ = e.page(e.other, "GET", "/tasks/"+private.ID+"/download", nil, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("private download: %s", resp.Status)
	}
	_, body = e.page(e.customer, "GET", "/tasks/"+private.ID, nil, "")
	if !strings.Contains(body, `id="cancel"`) {
		t.Fatal("the owner is not offered to cancel")
	}
	resp, _ = e.form(e.other, "/tasks/"+private.ID+"/cancel", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob cancels alice's private task: %s", resp.Status)
	}
	resp, _ = e.form(e.customer, "/tasks/"+private.ID+"/cancel", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %s", resp.Status)
	}
	if got, _ := e.b.FindTask(t.Context(), private.ID); got.Status != "cancelled" {
		t.Fatalf("after cancel: %s", got.Status)
	}

	resp, body = e.page("", "GET", "/?days=30", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("network page: %s", resp.Status)
	}
	if err := contains(body, `id="count-tasks">2<`, "4.2M", "parameters trained", `id="leaderboard"`, miners[1][:9], "70.0%", `class="bar weight"`,
		public.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, private.ID[:14]) {
		t.Fatal("the network page lists a private task")
	}
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

func TestDashboardKeys(t *testing.T) {
	e := newEnv(t, Options{})
	resp, body := e.form(e.customer, "/keys", url.Values{"name": {"notebook"}})
	secret := between(body, "<p><code>", "</code></p>")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(secret, keyPrefix) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create key: %s, secret %q", resp.Status, secret)
	}
	e.do(secret, "GET", "/v1/tasks", nil, http.StatusOK, nil)
	var keys []map[string]any
	e.do(e.customer, "GET", "/v1/keys", nil, http.StatusOK, &keys)
	var id string
	for _, k := range keys {
		if k["name"] == "notebook" {
			id = k["id"].(string)
		}
	}
	resp, _ = e.form(e.other, "/keys/"+id+"/revoke", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob revokes alice's key: %s", resp.Status)
	}
	resp, _ = e.form(e.customer, "/keys/"+id+"/revoke", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %s", resp.Status)
	}
	e.do(secret, "GET", "/v1/tasks", nil, http.StatusUnauthorized, nil)
	_, body = e.page(e.customer, "GET", "/keys", nil, "")
	if strings.Count(body, `action="/keys/`) != 1 || strings.Contains(body, secret) {
		t.Fatal("the keys page offers to revoke a revoked key, or shows a secret again")
	}
}

// TestPublicDownloadsOptIn: with the operator's opt-in, a public task's
// winner downloads without a key; a private one still does not.
func TestPublicDownloadsOptIn(t *testing.T) {
	e := newEnv(t, Options{PublicDownloads: true})
	private := e.createTask(e.customer, true)
	public := e.createTask(e.customer, false)
	e.simulate(public.ID)
	e.simulate(private.ID)
	if resp, _ := e.page("", "GET", "/tasks/"+public.ID+"/download", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous download of a public task: %s", resp.Status)
	}
	if resp, _ := e.page("", "GET", "/tasks/"+private.ID+"/download", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("anonymous download of a private task: %s", resp.Status)
	}
}
