package protocol_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// The network every case runs on: two validators and two miners with
// their keys; "stranger" is a key the network does not know.
var (
	v1, _       = sign.FromURI("//protocol-test//validator-1")
	v2, _       = sign.FromURI("//protocol-test//validator-2")
	m1, _       = sign.FromURI("//protocol-test//miner-1")
	m2, _       = sign.FromURI("//protocol-test//miner-2")
	stranger, _ = sign.FromURI("//protocol-test//stranger")
)

// authorize admits the network's nodes, as the metagraph check does.
func authorize(_ context.Context, hotkey string) error {
	for _, k := range []*sign.Keypair{v1, v2, m1, m2} {
		if k.Address() == hotkey {
			return nil
		}
	}
	return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s is not registered", hotkey)
}

// network connects one miner server and one validator server through a
// transport.
type network struct {
	// miner dials the miner as the validator with key k.
	miner func(k *sign.Keypair) protocol.Miner
	// validator dials the validator as the miner with key k.
	validator func(k *sign.Keypair) protocol.Validator
}

// transport is one implementation of the protocol under test. start
// returns where the validator tells miners to find it and a function that
// connects the servers (made once that URL is known).
type transport struct {
	name  string
	start func(t *testing.T) (base string, connect func(m protocol.MinerServer, v protocol.ValidatorServer) network)
}

// transports are the HTTP protocol (signed requests, real servers on port
// 0) and the in-process one.
func transports() []transport {
	return []transport{
		{name: "http", start: func(t *testing.T) (string, func(protocol.MinerServer, protocol.ValidatorServer) network) {
			var srvMux http.Handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srvMux.ServeHTTP(w, r) }))
			t.Cleanup(srv.Close)
			return srv.URL, func(m protocol.MinerServer, v protocol.ValidatorServer) network {
				caller := func(r *http.Request) string { h, _ := sign.Caller(r.Context()); return h }
				mux := http.NewServeMux()
				verified := sign.Verify(protocol.ValidatorHandler(v, caller), sign.Options{Hotkey: v1.Address(), Authorize: authorize, MaxBody: maxUpload})
				links := protocol.ValidatorHandler(v, func(*http.Request) string { return "" })
				mux.Handle("/v1/node/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet {
						links.ServeHTTP(w, r)
						return
					}
					verified.ServeHTTP(w, r)
				}))
				mux.Handle(api.PathResults, protocol.ResultsHandler(v))
				srvMux = mux
				ms := httptest.NewServer(sign.Verify(protocol.MinerHandler(m, caller), sign.Options{Hotkey: m1.Address(), Authorize: authorize}))
				t.Cleanup(ms.Close)
				host, port, _ := net.SplitHostPort(strings.TrimPrefix(ms.URL, "http://"))
				p, _ := strconv.Atoi(port)
				node := &crucible.Node{Hotkey: m1.Address(), IP: host, Port: p}
				return network{
					miner: func(k *sign.Keypair) protocol.Miner {
						return protocol.HTTPMiners(&http.Client{Transport: &sign.Transport{Signer: k}}, sign.WithTarget)(node)
					},
					validator: func(k *sign.Keypair) protocol.Validator {
						return protocol.HTTPValidators(&http.Client{Transport: &sign.Transport{Signer: k}}, sign.WithTarget)(v1.Address())
					},
				}
			}
		}},
		{name: "in-process", start: func(t *testing.T) (string, func(protocol.MinerServer, protocol.ValidatorServer) network) {
			return "http://validator.invalid", func(m protocol.MinerServer, v protocol.ValidatorServer) network {
				l := &protocol.Local{Authorize: authorize}
				l.AddMiner(m1.Address(), m)
				l.AddValidator(v1.Address(), v)
				node := &crucible.Node{Hotkey: m1.Address()}
				return network{
					miner:     func(k *sign.Keypair) protocol.Miner { return l.Miners(k.Address())(node) },
					validator: func(k *sign.Keypair) protocol.Validator { return l.Validators(k.Address())(v1.Address()) },
				}
			}
		}},
	}
}

// maxUpload is the validator's upload limit in these tests.
const maxUpload = 4096

// fixture is a real miner and a real validator with one task in training,
// miner-1 taking part in it.
type fixture struct {
	net      network
	task     *crucible.Task
	sub      *crucible.Submission
	links    *blob.Signer
	base     string // the validator's public URL
	trainRow string // the content of the task's train split
	store    *sqlstore.Store
}

func newFixture(t *testing.T, tr transport) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mcfg := miner.DefaultConfig()
	mcfg.WorkDir, mcfg.MinHours = filepath.Join(dir, "miner"), 0
	m, err := miner.New(mcfg, &miner.CommandStrategy{Argv: []string{"true"}}, func(string) protocol.Validator { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(ctx, filepath.Join(dir, "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blob.NewLocal(blob.LocalConfig{Dir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	links, _ := blob.NewSigner([]byte("protocol test link key, 32 bytes"))
	base, connect := tr.start(t)
	cfg := validator.DefaultConfig()
	cfg.PublicURL, cfg.MaxUpload = base, maxUpload
	v, err := validator.New(cfg, validator.Deps{Store: store, Blobs: blobAdapter{blobs}, Models: noModels{},
		Preparer: noPreparer{}, Evaluator: noEvaluator{}, Links: links, Verify: sign.VerifySignature})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{net: connect(m, v), links: links, base: base, store: store, trainRow: `{"instruction":"q","output":"a"}` + "\n"}
	// A task in training until an hour from now, miner-1 in it.
	f.task = &crucible.Task{Type: crucible.TaskInstruct, Model: "m", Dataset: "d", HoursToComplete: 1, IsOrganic: true}
	must(t, store.CreateTask(ctx, f.task))
	for _, s := range []crucible.TaskStatus{crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusReady, crucible.StatusTraining} {
		f.task.Status = s
		if s == crucible.StatusLookingForNodes {
			f.task.TrainData, f.task.TestData = "tasks/"+f.task.ID+"/train.jsonl", "tasks/"+f.task.ID+"/test.jsonl"
		}
		if s == crucible.StatusTraining {
			now, end := time.Now(), time.Now().Add(time.Hour)
			f.task.StartedAt, f.task.TerminationAt = &now, &end
		}
		must(t, store.UpdateTask(ctx, f.task))
	}
	for _, key := range []string{f.task.TrainData, f.task.TestData} {
		_, err := blobs.Put(ctx, key, strings.NewReader(f.trainRow))
		must(t, err)
	}
	f.sub = &crucible.Submission{TaskID: f.task.ID, Hotkey: m1.Address(), ExpectedName: "result-name"}
	must(t, store.CreateSubmission(ctx, f.sub))
	return f
}

func (f *fixture) link(key string) string {
	return f.links.URLUntil(f.base+api.PathBlob, key, time.Now().Add(time.Hour))
}

func (f *fixture) uploadURL(task, name string) string {
	return f.base + api.PathUpload + task + "/" + name
}

// TestProtocol runs the one suite against every transport.
func TestProtocol(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("miner", func(t *testing.T) { minerSuite(t, newFixture(t, tr)) })
			t.Run("validator", func(t *testing.T) { validatorSuite(t, newFixture(t, tr)) })
			t.Run("tournament", func(t *testing.T) { tournamentSuite(t, newFixture(t, tr)) })
		})
	}
}

func minerSuite(t *testing.T, f *fixture) {
	ctx := context.Background()
	m := f.net.miner(v1)
	offer := api.TaskOffer{TaskID: "t1", TaskType: crucible.TaskInstruct, Model: "m", ModelParamsCount: 1000, DatasetSize: 10, HoursToComplete: 1}
	resp, err := m.Offer(ctx, offer)
	if err != nil || !resp.Accepted {
		t.Fatalf("offer: %+v %v", resp, err)
	}
	big := offer
	big.TaskID, big.ModelParamsCount = "t2", 1<<50
	if resp, err := m.Offer(ctx, big); err != nil || resp.Accepted || !strings.Contains(resp.Message, "parameters") {
		t.Errorf("offer of a model too large: %+v %v", resp, err)
	}
	if _, err := f.net.miner(stranger).Offer(ctx, offer); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("offer from an unregistered validator: %v", err)
	}

	req := api.TrainRequest{TaskID: "t1", TaskType: crucible.TaskInstruct, Model: "m", ModelURL: "http://v/model",
		DatasetURL: "http://v/data", UploadURL: "http://v/up", ExpectedName: "n", Deadline: time.Now().Add(time.Hour), HoursToComplete: 1}
	bad := req
	bad.ExpectedName = "../escape"
	_, err = m.StartTraining(ctx, bad)
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(crucible.ErrorMessage(err), "expected_name") {
		t.Errorf("start with a path as its name: %v", err)
	}
	if got, err := m.StartTraining(ctx, req); err != nil || got.TaskID != "t1" {
		t.Fatalf("start: %+v %v", got, err)
	}
	if _, err := m.StartTraining(ctx, req); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("second start: %v", err)
	}
	st, err := m.TaskStatus(ctx, "t1")
	if err != nil || st.TaskID != "t1" || st.State != api.JobQueued {
		t.Errorf("status: %+v %v", st, err)
	}
	if _, err := m.TaskStatus(ctx, "no-such-task"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("status of an unknown task: %v", err)
	}
	// Another validator learns nothing of this one's tasks.
	if _, err := f.net.miner(v2).TaskStatus(ctx, "t1"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("status asked by another validator: %v", err)
	}
	// The heartbeat: what the miner takes, to registered validators only.
	im, ok := m.(protocol.InfoMiner)
	if !ok {
		t.Fatal("the transport's miner answers no heartbeat")
	}
	info, err := im.Info(ctx)
	if err != nil || len(info.TaskTypes) == 0 || info.MaxHours <= 0 || info.MaxParams <= 0 || info.Strategy == "" {
		t.Errorf("info: %+v %v", info, err)
	}
	if _, err := f.net.miner(stranger).(protocol.InfoMiner).Info(ctx); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("info asked by an unregistered validator: %v", err)
	}
}

func validatorSuite(t *testing.T, f *fixture) {
	ctx := context.Background()
	v := f.net.validator(m1)
	// The results log reads page by page from the URL start_training
	// names; nothing else is read as one.
	if got, err := v.Results(ctx, f.base+api.PathResults, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty results log: %v, %v", got, err)
	}
	var prev *crucible.ResultEntry
	for i := range 3 {
		e, err := resultlog.Next(prev, resultlog.KindWeights, resultlog.Weights{SpecVersion: fmt.Sprint(i)}, v1)
		must(t, err)
		must(t, f.store.AppendResult(ctx, e))
		prev = e
	}
	page, err := v.Results(ctx, f.base+api.PathResults, 1)
	if err != nil || len(page) != 2 || page[0].Seq != 2 || page[1].Hash != prev.Hash {
		t.Fatalf("results after 1: %v, %v", page, err)
	}
	if probs := resultlog.Verify(page, 2, page[0].PrevHash, v1.Address(), sign.VerifySignature); len(probs) > 0 {
		t.Errorf("the page does not verify: %v", probs)
	}
	for url, code := range map[string]string{
		f.base + api.PathUpload: crucible.ENOTFOUND, f.base + "/v1/results/artifacts/x": crucible.ENOTFOUND,
		"file:///etc/passwd": crucible.EINVALID, "": crucible.EINVALID,
	} {
		if _, err := v.Results(ctx, url, 0); crucible.ErrorCode(err) != code {
			t.Errorf("results from %q: %v, want %s", url, err, code)
		}
	}
	if _, err := v.Results(ctx, f.base+api.PathResults, -1); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("results after -1: %v", err)
	}
	// A download link gets the train split; a tampered, expired or misused
	// one gets nothing.
	rc, err := v.Download(ctx, f.link(f.task.TrainData), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != f.trainRow {
		t.Errorf("train split %q", got)
	}
	// A broken download resumes from an offset; one past the end is
	// refused, a negative one too.
	for _, off := range []int{1, 7, len(f.trainRow)} {
		rc, err := v.Download(ctx, f.link(f.task.TrainData), int64(off))
		if err != nil {
			t.Fatalf("download from %d: %v", off, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != f.trainRow[off:] {
			t.Errorf("download from %d: %q, want %q", off, got, f.trainRow[off:])
		}
	}
	for _, off := range []int64{int64(len(f.trainRow)) + 1, -1} {
		if rc, err := v.Download(ctx, f.link(f.task.TrainData), off); crucible.ErrorCode(err) != crucible.EINVALID {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("download from %d: %v, want invalid", off, err)
		}
	}
	link := f.link(f.task.TrainData)
	i := strings.LastIndex(link, "=") + 1
	tampered := link[:i] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", link[i])+1)%16]) + link[i+1:]
	for name, c := range map[string]struct {
		link string
		code string
	}{
		"tampered":        {tampered, crucible.EUNAUTHORIZED},
		"another key":     {strings.Replace(link, "train.jsonl", "other.jsonl", 1), crucible.EUNAUTHORIZED},
		"expired":         {f.links.URLUntil(f.base+api.PathBlob, f.task.TrainData, time.Now().Add(-time.Minute)), crucible.EUNAUTHORIZED},
		"test split":      {f.link(f.task.TestData), crucible.EFORBIDDEN},
		"missing":         {f.link("tasks/none/train.jsonl"), crucible.ENOTFOUND},
		"another address": {strings.Replace(f.link(f.task.TrainData), api.PathBlob, "/v1/other/", 1), crucible.ENOTFOUND},
	} {
		if rc, err := v.Download(ctx, c.link, 0); crucible.ErrorCode(err) != c.code {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("download %s: %v, want %s", name, err, c.code)
		}
	}

	// Uploads: only the miner in the task, under its name, in time, within
	// the size limit.
	body := bytes.Repeat([]byte("r"), 100)
	for name, c := range map[string]struct {
		as   *sign.Keypair
		url  string
		body []byte
		code string
	}{
		"stranger":        {stranger, f.uploadURL(f.task.ID, f.sub.ExpectedName), body, crucible.EFORBIDDEN},
		"not in the task": {m2, f.uploadURL(f.task.ID, f.sub.ExpectedName), body, crucible.EFORBIDDEN},
		"another name":    {m1, f.uploadURL(f.task.ID, "not-mine"), body, crucible.EFORBIDDEN},
		"unknown task":    {m1, f.uploadURL("no-such-task", f.sub.ExpectedName), body, crucible.ENOTFOUND},
		"too large":       {m1, f.uploadURL(f.task.ID, f.sub.ExpectedName), bytes.Repeat([]byte("x"), maxUpload+1), crucible.ETOOLARGE},
	} {
		if _, err := f.net.validator(c.as).Upload(ctx, c.url, bytes.NewReader(c.body)); crucible.ErrorCode(err) != c.code {
			t.Errorf("upload %s: %v, want %s", name, err, c.code)
		}
	}
	receipt, err := v.Upload(ctx, f.uploadURL(f.task.ID, f.sub.ExpectedName), bytes.NewReader(body))
	sum := sha256.Sum256(body)
	if err != nil || receipt.SHA256 != hex.EncodeToString(sum[:]) || receipt.Size != 100 {
		t.Fatalf("upload: %+v %v", receipt, err)
	}
	// Once the deadline has passed, an upload is late.
	past := time.Now().Add(-time.Second)
	f.task.TerminationAt = &past
	must(t, f.store.UpdateTask(ctx, f.task))
	if _, err := v.Upload(ctx, f.uploadURL(f.task.ID, f.sub.ExpectedName), bytes.NewReader(body)); crucible.ErrorCode(err) != crucible.ECONFLICT ||
		crucible.ErrorHint(err) == "" {
		t.Errorf("late upload: %v", err)
	}
}

// tournamentSuite: miners enter a tournament with signed entries at the
// URL its announcement names; a second entry, another's method, another
// miner's entry, a stranger and a wrong address are refused and nothing is
// written. A miner answers announcements (this one has no key to sign an
// entry with, so it declines); a stranger's or a malformed one is refused.
func tournamentSuite(t *testing.T, f *fixture) {
	ctx := context.Background()
	must(t, f.store.UpsertNodes(ctx, []*crucible.Node{{UID: 1, Hotkey: m1.Address(), IP: "127.0.0.1", Port: 1}, {UID: 2, Hotkey: m2.Address(), IP: "127.0.0.1", Port: 2}}))
	tour := &crucible.Tournament{EntriesClose: time.Now().Add(time.Hour), Settings: crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 3, Advance: 1, GroupTasks: 1, PairTasks: 1, BossTasks: 1, Hours: 1,
		Pool:       []crucible.TournamentTaskSpec{{Type: crucible.TaskInstruct, Model: "m", Dataset: "d"}},
		GroupTypes: []crucible.TaskType{crucible.TaskInstruct}, KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct}, BossTypes: []crucible.TaskType{crucible.TaskInstruct}}}
	must(t, f.store.CreateTournament(ctx, tour))
	entryURL := f.base + api.PathTournamentEntries + tour.ID + api.TournamentEntriesSuffix
	entry := func(k *sign.Keypair, m crucible.Method) api.EnterRequest {
		at := time.Now().UTC()
		sig, _ := k.Sign(crucible.EntryMessage(tour.ID, k.Address(), m.Hash(), 0, at))
		return api.EnterRequest{Method: m, MethodHash: m.Hash(), SignedAt: at, Signature: hex.EncodeToString(sig)}
	}
	mine := crucible.Method{Strategy: "auto", Version: "recipe-1"}
	r, err := f.net.validator(m1).Enter(ctx, entryURL, entry(m1, mine))
	if err != nil || r.Hotkey != m1.Address() || r.MethodHash != mine.Hash() {
		t.Fatalf("enter: %+v %v", r, err)
	}
	for name, c := range map[string]struct {
		as   *sign.Keypair
		url  string
		req  api.EnterRequest
		code string
	}{
		"twice":            {m1, entryURL, entry(m1, crucible.Method{Strategy: "full"}), crucible.ECONFLICT},
		"another's method": {m2, entryURL, entry(m2, mine), crucible.ECONFLICT},
		"another's entry":  {m2, entryURL, entry(m1, crucible.Method{Strategy: "lora-fast"}), crucible.EUNAUTHORIZED},
		"stranger":         {stranger, entryURL, entry(stranger, crucible.Method{Strategy: "x"}), crucible.EFORBIDDEN},
		"wrong address":    {m2, strings.Replace(entryURL, "/entries", "/other", 1), entry(m2, crucible.Method{Strategy: "y"}), crucible.ENOTFOUND},
	} {
		if _, err := f.net.validator(c.as).Enter(ctx, c.url, c.req); crucible.ErrorCode(err) != c.code {
			t.Errorf("enter %s: %v, want %s", name, err, c.code)
		}
	}
	if es, _ := f.store.FindEntries(ctx, tour.ID); len(es) != 1 {
		t.Errorf("%d entries stored, want 1", len(es))
	}
	a := api.TournamentAnnouncement{TournamentID: tour.ID, EntriesClose: tour.EntriesClose, EntryURL: entryURL}
	if resp, err := f.net.miner(v1).Announce(ctx, a); err != nil || resp.Entering || !strings.Contains(resp.Message, "no key") {
		t.Errorf("announce: %+v %v", resp, err)
	}
	if _, err := f.net.miner(stranger).Announce(ctx, a); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("announcement by a stranger: %v", err)
	}
	bad := a
	bad.TournamentID = "../../x"
	if _, err := f.net.miner(v1).Announce(ctx, bad); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("malformed announcement: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The validator's other seams, unused by the protocol.
type (
	blobAdapter struct{ blob.Store }
	noModels    struct{}
	noPreparer  struct{}
	noEvaluator struct{}
)

func (b blobAdapter) Put(ctx context.Context, key string, r io.Reader) (int64, string, error) {
	info, err := b.Store.Put(ctx, key, r)
	return info.Size, info.SHA256, err
}

func (b blobAdapter) Sum(ctx context.Context, key string) (int64, string, error) {
	info, err := b.Store.Stat(ctx, key)
	return info.Size, info.SHA256, err
}

func (noModels) ResolveModel(context.Context, string) (string, error) {
	return "", crucible.Errorf(crucible.ENOTFOUND, "no models here")
}

func (noPreparer) Prepare(context.Context, *crucible.Task, string, *crucible.Honeypot) (*validator.Prepared, error) {
	return nil, crucible.Errorf(crucible.EINTERNAL, "not in these tests")
}

func (noEvaluator) Evaluate(context.Context, validator.EvalRequest) (*validator.EvalResult, error) {
	return nil, crucible.Errorf(crucible.EINTERNAL, "not in these tests")
}
