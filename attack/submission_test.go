package attack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/sign"
)

// entry is one member of a hand-made tar.
type entry struct {
	name, link string
	typ        byte
	data       []byte
}

// makeTar writes entries as a tar, whatever they claim.
func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data))}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return buf.Bytes()
}

// dirTar is the tar of a directory's files.
func dirTar(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// safetensorsBomb is a safetensors file whose header claims a tensor of
// 2^40 floats over 8 bytes of data.
func safetensorsBomb() []byte {
	hdr := []byte(`{"model.embed_tokens.weight":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.Write(hdr)
	b.Write(make([]byte, 8))
	return b.Bytes()
}

// attacker is a hostile miner: it takes every task it is offered and
// uploads what the test gave it instead of training.
type attacker struct {
	t       *testing.T
	key     *sign.Keypair
	payload []byte
	target  string // the validator's hotkey
	done    chan error
}

func (a *attacker) Offer(context.Context, string, api.TaskOffer) (api.OfferResponse, error) {
	return api.OfferResponse{Accepted: true, Message: "happy to"}, nil
}

func (a *attacker) StartTraining(_ context.Context, _ string, req api.TrainRequest) (api.TrainResponse, error) {
	go func() {
		httpReq, _ := http.NewRequest("PUT", req.UploadURL, bytes.NewReader(a.payload))
		if err := sign.SignRequest(httpReq, a.key, a.target, time.Now()); err != nil {
			a.done <- err
			return
		}
		resp, err := http.DefaultClient.Do(httpReq)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = api.ResponseError(resp)
			}
		}
		a.done <- err
	}()
	return api.TrainResponse{TaskID: req.TaskID, Message: "queued"}, nil
}

func (a *attacker) TaskStatus(_ context.Context, _, id string) (api.MinerTaskStatus, error) {
	return api.MinerTaskStatus{TaskID: id, State: api.JobTraining}, nil
}

func (a *attacker) Announce(context.Context, string, api.TournamentAnnouncement) (api.AnnounceResponse, error) {
	return api.AnnounceResponse{}, nil
}

// TestMaliciousSubmissions: results that are hostile archives (paths
// climbing out, links, a file flood), a safetensors header claiming a
// terabyte, an adapter asking for a rank no base needs, or a garbage
// tokenizer next to real weights are taken apart by the real evaluator:
// each fails with its reason (the tokenizer is never read: the base's is
// used), the validator keeps running, and nothing is written outside its
// temporary directories, which are gone afterwards.
func TestMaliciousSubmissions(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	n := startNet(t, nil, nil, nil)
	base := filepath.Join(n.dir, "models", "tiny")
	cfgJSON, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A real fine-tune with a garbage tokenizer beside it.
	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	m.Params()[0] += 0.01
	tuned := filepath.Join(t.TempDir(), "tuned")
	if err := m.Save(tuned); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tuned, "tokenizer.json"), bytes.Repeat([]byte(`{"model":{"vocab":[[`), 1<<14), 0o644)
	emptyST := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := safetensors.Write(emptyST, nil, nil); err != nil {
		t.Fatal(err)
	}
	empty, _ := os.ReadFile(emptyST)
	flood := make([]entry, 1500)
	for i := range flood {
		flood[i] = entry{name: "f" + strconv.Itoa(i), data: []byte("x")}
	}
	payloads := map[string]struct {
		tar  []byte
		want string // in the submission's failure; "" for none
	}{
		"traversal":        {makeTar(t, []entry{{name: "config.json", data: cfgJSON}, {name: "../../../escaped", data: []byte("owned")}}), "unsafe archive entry"},
		"symlink":          {makeTar(t, []entry{{name: "config.json", typ: tar.TypeSymlink, link: "/etc/passwd"}}), "unsafe archive entry"},
		"hardlink":         {makeTar(t, []entry{{name: "model.safetensors", typ: tar.TypeLink, link: "../../validator.db"}}), "unsafe archive entry"},
		"file flood":       {makeTar(t, flood), "more than 1000 files"},
		"safetensors bomb": {makeTar(t, []entry{{name: "config.json", data: cfgJSON}, {name: "model.safetensors", data: safetensorsBomb()}}), "model.safetensors"},
		"adapter bomb": {makeTar(t, []entry{{name: "adapter_config.json", data: []byte(`{"peft_type":"LORA","r":16384,"lora_alpha":8,"target_modules":["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]}`)},
			{name: "adapter_model.safetensors", data: empty}}), "more than the base model's"},
		"garbage tokenizer": {dirTar(t, tuned), ""},
	}
	attackers := map[string]string{} // hotkey → payload name
	var all []*attacker
	for name, p := range payloads {
		key, _ := sign.FromURI("//attack//submitter//" + name)
		a := &attacker{t: t, key: key, payload: p.tar, target: n.Validator.Key().Address(), done: make(chan error, 1)}
		srv := httptest.NewServer(protocol.MinerHandler(a, func(*http.Request) string { return "" }))
		t.Cleanup(srv.Close)
		if err := node.JoinChain(ctx, n.Chain, key, strings.TrimPrefix(srv.URL, "http://"), 0); err != nil {
			t.Fatal(err)
		}
		attackers[key.Address()] = name
		all = append(all, a)
	}
	if err := n.Validator.SyncMetagraph(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := localnet.SampleDataset(t.TempDir(), assets.Facts, 60)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.dir)
	task := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: data, HoursToComplete: (40 * time.Second).Hours(), IsOrganic: true}
	if err := n.Validator.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if err := <-a.done; err != nil {
			t.Fatalf("an attacker's upload was refused before evaluation: %v", err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	done, err := n.Follow(fctx, task.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != crucible.StatusSuccess {
		t.Fatalf("task %s: %s", done.Status, done.Failure)
	}
	subs, err := n.Validator.Store().FindSubmissions(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		name := attackers[s.Hotkey]
		want := payloads[name].want
		switch {
		case want == "" && (s.Failure != "" || s.TestLoss == nil):
			t.Errorf("%s: failure %q, loss %v; want it evaluated", name, s.Failure, s.TestLoss)
		case want != "" && !strings.Contains(s.Failure, want):
			t.Errorf("%s: failure %q does not say %q", name, s.Failure, want)
		}
	}
	if done.Winner == "" || attackers[done.Winner] != "garbage tokenizer" {
		t.Errorf("winner %q", attackers[done.Winner])
	}
	// Nothing escaped the validator's own directories; its temporary
	// directories are cleaned up.
	for _, p := range []string{filepath.Join(n.dir, "escaped"), filepath.Join(tmp, "escaped"), filepath.Join(filepath.Dir(n.dir), "escaped")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("an archive wrote %s", p)
		}
	}
	unchanged(t, "evaluating hostile results", before, n.dir, "validator/")
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("temporary files left: %v", names)
	}
}
