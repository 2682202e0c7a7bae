package miner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// flakyValidator serves content from any offset; each of the first breaks
// downloads stops with an error after cut bytes.
type flakyValidator struct {
	content []byte
	breaks  int
	cut     int
	offsets []int64
}

type brokenReader struct {
	r    io.Reader
	left int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

func (f *flakyValidator) Download(_ context.Context, _ string, offset int64) (io.ReadCloser, error) {
	f.offsets = append(f.offsets, offset)
	if offset > int64(len(f.content)) {
		return nil, crucible.Errorf(crucible.EINVALID, "offset past the end")
	}
	var r io.Reader = bytes.NewReader(f.content[offset:])
	if f.breaks > 0 {
		f.breaks--
		r = &brokenReader{r: r, left: f.cut}
	}
	return io.NopCloser(r), nil
}

func (f *flakyValidator) Upload(context.Context, string, io.Reader) (*api.UploadResponse, error) {
	return nil, errors.New("not here")
}

func (f *flakyValidator) Enter(context.Context, string, api.EnterRequest) (*api.EntryReceipt, error) {
	return nil, errors.New("not here")
}

func (f *flakyValidator) Results(context.Context, string, int64) ([]*crucible.ResultEntry, error) {
	return nil, nil
}

func TestDownloadFileResumesAndChecks(t *testing.T) {
	defer func(w func(int) time.Duration) { retryWait = w }(retryWait)
	retryWait = func(int) time.Duration { return 0 }
	content := bytes.Repeat([]byte(`{"instruction":"q","output":"a"}`+"\n"), 1000)
	sum := sha256.Sum256(content)
	hexSum := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	path := filepath.Join(dir, "train.jsonl")

	// Three breaks: resumed each time from what arrived, and complete.
	v := &flakyValidator{content: content, breaks: 3, cut: 5000}
	if err := downloadFile(context.Background(), v, "link", path, int64(len(content)), hexSum, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes, not the content", len(got))
	}
	if want := []int64{0, 5000, 10000, 15000}; len(v.offsets) != 4 || v.offsets[3] != want[3] {
		t.Fatalf("offsets asked %v, want %v", v.offsets, want)
	}

	// Too many breaks, a wrong hash, a wrong size and content longer than
	// announced fail, and leave no file.
	for name, c := range map[string]struct {
		v    *flakyValidator
		size int64
		sum  string
		want string
	}{
		"too many breaks": {&flakyValidator{content: content, breaks: downloadTries, cut: 10}, int64(len(content)), hexSum, "connection reset"},
		"corrupt":         {&flakyValidator{content: append(bytes.Clone(content[:len(content)-1]), 'X')}, int64(len(content)), hexSum, "corrupt"},
		"short":           {&flakyValidator{content: content[:100]}, int64(len(content)), hexSum, "announced"},
		"too long":        {&flakyValidator{content: append(bytes.Clone(content), 'X')}, int64(len(content)), hexSum, "more bytes"},
	} {
		err := downloadFile(context.Background(), c.v, "link", path, c.size, c.sum, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: the file is left behind", name)
		}
	}

	// Without a size or hash (an older validator), the content is taken as
	// it comes.
	if err := downloadFile(context.Background(), &flakyValidator{content: content, breaks: 1, cut: 7}, "link", path, 0, "", nil); err != nil {
		t.Fatal(err)
	}
}
