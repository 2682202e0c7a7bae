package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/crucible-net/crucible/api"
)

func experimentsFS(t *testing.T) fstest.MapFS {
	t.Helper()
	loss, base, ref := 0.91, 6.2, 2.4
	res := api.ExperimentResults{Kind: api.ExperimentSeries, Title: "5 competitions on crucible-tiny, facts.jsonl", Finished: true,
		Command: "crucible experiment series --dir x", Model: "crucible-tiny", Dataset: "facts.jsonl", MinersMode: "sequential",
		Updated: time.Now(), BaseLoss: &base, Charts: []string{"series.svg", "series.png"},
		Rounds:    []api.ExperimentRound{{Round: 1, Winner: "adaptive-1", WinnerLoss: &loss, Miners: []api.ExperimentMiner{{Name: "adaptive-1", Loss: &loss}}}},
		Reference: &api.ExperimentRun{Title: "the base tuned on definitions.jsonl", Loss: &ref},
		Targets:   []api.ExperimentTarget{{Name: "ends below the reference line", Met: true, Detail: "0.91 < 2.4"}, {Name: "falls 5%", Detail: "<script>x</script>"}},
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{
		"facts-series/results.json":  {Data: b},
		"facts-series/series.svg":    {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><text>reference</text></svg>`)},
		"facts-series/series.png":    {Data: []byte("\x89PNG\r\n")},
		"facts-series/secret.txt":    {Data: []byte("not a chart")},
		"facts-series/net/keys.json": {Data: []byte("{}")},
		"not-one/results.json":       {Data: []byte(`{"kind":"other"}`)},
		"broken/results.json":        {Data: []byte(`{`)},
	}
}

func TestExperimentPages(t *testing.T) {
	e := newEnv(t, Options{Experiments: experimentsFS(t)})
	// Public: no key needed.
	resp, body := e.page("", "GET", "/experiments", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/experiments/facts-series"`) || !strings.Contains(body, "1 of 2") ||
		strings.Contains(body, "not-one") || strings.Contains(body, "broken") {
		t.Fatalf("list %d:\n%s", resp.StatusCode, body)
	}
	resp, body = e.page("", "GET", "/experiments/facts-series", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `src="/experiments/facts-series/series.svg"`) || !strings.Contains(body, "adaptive-1") ||
		!strings.Contains(body, "2.4000") || strings.Contains(body, "<script>x") {
		t.Fatalf("page %d:\n%s", resp.StatusCode, body)
	}
	// The nav shows the tab.
	if _, home := e.page("", "GET", "/", nil, ""); !strings.Contains(home, `href="/experiments"`) {
		t.Error("no experiments tab")
	}
	resp, body = e.page("", "GET", "/experiments/facts-series/series.svg", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") ||
		!strings.Contains(body, "reference") {
		t.Errorf("chart: %d %v", resp.StatusCode, resp.Header)
	}
	// Only charts are served, by name; traversal and other folders are not.
	for _, p := range []string{
		"/experiments/facts-series/secret.txt", "/experiments/facts-series/results.json", "/experiments/facts-series/..%2fnot-one%2fresults.json",
		"/experiments/nope", "/experiments/not-one", "/experiments/broken", "/experiments/..%2f..%2fetc", "/experiments/facts-series/net%2fkeys.json",
	} {
		if resp, _ := e.page("", "GET", p, nil, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	// Without an experiments folder there is no page and no tab.
	bare := newEnv(t, Options{})
	if resp, _ := bare.page("", "GET", "/experiments", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("experiments without a folder: %d", resp.StatusCode)
	}
	if _, home := bare.page("", "GET", "/", nil, ""); strings.Contains(home, `href="/experiments"`) {
		t.Error("an experiments tab without experiments")
	}
}
