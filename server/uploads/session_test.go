package uploads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

func instructRows(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"instruction":"What is %d plus %d?","output":"%d."}`+"\n", i, i, 2*i)
	}
	return b.String()
}

// waitSession polls a session until it leaves the given states.
func waitSession(t *testing.T, s *Store, owner, id string, states ...string) *api.UploadSession {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		se, err := s.Session(owner, id)
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, st := range states {
			busy = busy || se.State == st
		}
		if !busy {
			return se
		}
		if time.Now().After(deadline) {
			t.Fatalf("session still %s", se.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// A file sent in chunks, with a broken request and a restart in between,
// is checked and kept as an upload the resolver finds.
func TestResumableUpload(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)
	ctx := context.Background()
	rows := instructRows(300)
	se, err := s.Begin("alice", api.BeginUpload{Name: "../big rows.jsonl", Size: int64(len(rows)), SHA256: sum(rows)}, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if se.Name != "big_rows.jsonl" || se.State != api.UploadReceiving || se.Received != 0 {
		t.Fatalf("begun %+v", se)
	}
	id := se.ID
	if _, err := s.Append(ctx, "alice", id, 0, strings.NewReader(rows[:1000])); err != nil {
		t.Fatal(err)
	}
	// A request that breaks keeps none of its bytes.
	broken := &failingReader{data: rows[1000:3000], failAfter: 700}
	if _, err := s.Append(ctx, "alice", id, 1000, broken); err == nil {
		t.Fatal("a broken request succeeded")
	}
	// The wrong offset is a conflict naming the right one.
	if _, err := s.Append(ctx, "alice", id, 1700, strings.NewReader(rows[1700:2000])); crucible.ErrorCode(err) != crucible.ECONFLICT || !strings.Contains(err.Error(), "send from offset 1000") {
		t.Fatalf("wrong offset: %v", err)
	}
	// Another account sees nothing, and cannot write.
	if _, err := s.Session("mallory", id); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("another account's status: %v", err)
	}
	if _, err := s.Append(ctx, "mallory", id, 1000, strings.NewReader("x")); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("another account's append: %v", err)
	}
	if err := s.Abort("mallory", id); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("another account's abort: %v", err)
	}
	// A restart: a new store on the same directory goes on.
	s, _ = New(dir)
	st, err := s.Session("alice", id)
	if err != nil || st.Received != 1000 {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	// More bytes than announced are refused, and none of them kept.
	if _, err := s.Append(ctx, "alice", id, 1000, strings.NewReader(rows[1000:]+"{}\n")); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Fatalf("overflow: %v", err)
	}
	if st, _ := s.Session("alice", id); st.Received != 1000 {
		t.Fatalf("overflow kept bytes: %d", st.Received)
	}
	last, err := s.Append(ctx, "alice", id, 1000, strings.NewReader(rows[1000:]))
	if err != nil || last.Received != int64(len(rows)) || (last.State != api.UploadChecking && last.State != api.UploadDone) {
		t.Fatalf("last chunk: %+v %v", last, err)
	}
	done := waitSession(t, s, "alice", id, api.UploadChecking)
	if done.State != api.UploadDone || done.Upload == nil || done.Upload.Rows != 300 || done.Upload.SHA256 != sum(rows) {
		t.Fatalf("done %+v", done)
	}
	path, err := Resolver{Uploads: s}.Resolve(done.Upload.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != rows {
		t.Fatal("the kept file differs from what was sent")
	}
	if _, err := s.Append(ctx, "alice", id, int64(len(rows)), strings.NewReader("x")); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Fatalf("append after done: %v", err)
	}
}

type failingReader struct {
	data      string
	failAfter int
	at        int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.at >= f.failAfter {
		return 0, errors.New("connection reset")
	}
	n := copy(p, f.data[f.at:min(len(f.data), f.failAfter)])
	f.at += n
	return n, nil
}

// A dataset with a bad row, or whose bytes do not hash as announced, is
// refused with the problem; the limits hold.
func TestResumableUploadRefusals(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	rows := instructRows(200)
	bad := strings.Replace(rows, `{"instruction":"What is 150 plus 150?"`, `{"instruction":150`, 1)
	send := func(name, content, announced string) *api.UploadSession {
		se, err := s.Begin("bob", api.BeginUpload{Name: name, Size: int64(len(content)), SHA256: announced}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, "bob", se.ID, 0, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		return waitSession(t, s, "bob", se.ID, api.UploadChecking)
	}
	r := send("bad.jsonl", bad, "")
	if r.State != api.UploadRefused || len(r.Upload.Errors) == 0 || !strings.Contains(r.Upload.Errors[0], "bad.jsonl:151") {
		t.Fatalf("bad row: %+v", r.Upload)
	}
	r = send("rows.jsonl", rows, sum(rows+"x"))
	if r.State != api.UploadRefused || !strings.Contains(r.Upload.Errors[0], "not the") {
		t.Fatalf("wrong hash: %+v", r.Upload)
	}
	for name, c := range map[string]struct {
		req  api.BeginUpload
		max  int64
		code string
	}{
		"too large":  {api.BeginUpload{Name: "a.jsonl", Size: 2000}, 1000, crucible.ETOOLARGE},
		"empty":      {api.BeginUpload{Name: "a.jsonl", Size: 0}, 1000, crucible.EINVALID},
		"not a name": {api.BeginUpload{Name: "a.exe", Size: 10}, 1000, crucible.EINVALID},
		"bad sha":    {api.BeginUpload{Name: "a.jsonl", Size: 10, SHA256: "zz"}, 1000, crucible.EINVALID},
		"no disk":    {api.BeginUpload{Name: "a.jsonl", Size: 1 << 62}, 1 << 62, crucible.ETOOLARGE},
	} {
		if _, err := s.Begin("bob", c.req, c.max); crucible.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	for _, id := range []string{"0123456789abcdef0123456789abcdef", "../../etc", ""} {
		if _, err := s.Session("bob", id); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("session %q: %v", id, err)
		}
	}
	// At most MaxOpenSessions open at once per account; deleting one makes
	// room, and its bytes go.
	var ids []string
	for range MaxOpenSessions {
		se, err := s.Begin("carol", api.BeginUpload{Name: "a.jsonl", Size: 10}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, se.ID)
	}
	if _, err := s.Begin("carol", api.BeginUpload{Name: "a.jsonl", Size: 10}, 1000); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Fatalf("one too many: %v", err)
	}
	if _, err := s.Begin("dave", api.BeginUpload{Name: "a.jsonl", Size: 10}, 1000); err != nil {
		t.Fatalf("another account is not limited by carol's: %v", err)
	}
	if err := s.Abort("carol", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "sessions", ids[0])); !os.IsNotExist(err) {
		t.Fatal("an aborted session's files are left")
	}
	if _, err := s.Begin("carol", api.BeginUpload{Name: "a.jsonl", Size: 10}, 1000); err != nil {
		t.Fatal(err)
	}
}
