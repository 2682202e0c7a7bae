package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
)

// resumableFrom is the file size from which tasks create uploads a dataset
// in resumable chunks rather than in one request.
const resumableFrom = 64 << 20

// UploadDataset uploads a local dataset file: in one request when small,
// else as a resumable upload whose session is remembered in
// home/uploads, so that running the same command again after a
// broken connection or a crash goes on where the validator stands.
func UploadDataset(ctx context.Context, c *api.Client, home, path string, progress io.Writer, tty bool) (*api.DatasetUpload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	if st.Size() < resumableFrom {
		return c.UploadDataset(ctx, name, f)
	}
	state := uploadStateFile(home, c.BaseURL, path, st)
	var saved struct {
		Session string `json:"session"`
	}
	if b, err := os.ReadFile(state); err == nil {
		json.Unmarshal(b, &saved)
	}
	start := time.Now()
	var last time.Time
	lastState := ""
	up, err := c.UploadResumable(ctx, name, f, st.Size(), api.ResumableOptions{
		Session: saved.Session,
		Started: func(id string) {
			if id != saved.Session {
				os.MkdirAll(filepath.Dir(state), 0o700)
				b, _ := json.Marshal(map[string]string{"session": id})
				os.WriteFile(state, b, 0o600)
			}
		},
		Progress: func(s *api.UploadSession) {
			if s.State != api.UploadReceiving && s.State != api.UploadChecking {
				return // the outcome is printed by the caller
			}
			// A new state shows at once; more of the same every 10 s unless
			// on a terminal.
			if !tty && s.State == lastState && time.Since(last) < 10*time.Second {
				return
			}
			if s.State != lastState && s.State == api.UploadChecking {
				start = time.Now()
			}
			last, lastState = time.Now(), s.State
			line := fmt.Sprintf("uploading %s: %.1f of %.1f MB (%.0f%%), %.1f MB/s", name, float64(s.Received)/1e6, float64(s.Size)/1e6,
				100*float64(s.Received)/float64(s.Size), float64(s.Received)/1e6/time.Since(start).Seconds())
			if s.State == api.UploadChecking {
				line = fmt.Sprintf("uploaded %s; the validator is checking its rows (%s)", name, time.Since(start).Round(time.Second))
			}
			if tty {
				fmt.Fprintf(progress, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(progress, line)
			}
		},
	})
	if tty {
		fmt.Fprintln(progress)
	}
	if err == nil || up != nil {
		os.Remove(state) // done, or refused: a new run starts afresh
	}
	return up, err
}

// uploadStateFile names the file that remembers a resumable upload of one
// file (by path, size and modification time) to one validator.
func uploadStateFile(home, server, path string, st os.FileInfo) string {
	abs, _ := filepath.Abs(path)
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d", server, abs, st.Size(), st.ModTime().UnixNano())))
	return filepath.Join(home, "uploads", hex.EncodeToString(h[:12])+".json")
}
