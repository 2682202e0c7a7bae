package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// DefaultEndpoint is the public Hugging Face hub.
const DefaultEndpoint = "https://huggingface.co"

// Client talks to a Hugging Face compatible hub over its HTTP API and
// writes what it downloads into a Cache.
type Client struct {
	// Endpoint is the hub's base URL. Defaults to HF_ENDPOINT, else
	// https://huggingface.co.
	Endpoint string
	// Token is sent as a bearer token. Defaults to HF_TOKEN.
	Token string
	// HTTP is the client used. Defaults to http.DefaultClient.
	HTTP *http.Client
	// Cache receives the files.
	Cache Cache
	// Retries is how many times an interrupted file download is resumed
	// within one call. Defaults to 0: the partial file stays and the next
	// call resumes it.
	Retries int
	// Progress, when set, is told how far each file's download is: the
	// file's path in the repository, the bytes it has (a resumed file
	// starts where it stopped) and its size (0 when unknown).
	Progress func(file string, have, size int64)
}

// NewClient returns a client for the environment's hub (HF_ENDPOINT,
// HF_TOKEN) writing into the default cache.
func NewClient() *Client {
	return &Client{Endpoint: os.Getenv("HF_ENDPOINT"), Token: os.Getenv("HF_TOKEN"), Cache: Cache{Dir: DefaultCacheDir()}}
}

// File is one file of a repository revision.
type File struct {
	Path   string `json:"rfilename"`
	Size   int64  `json:"size"`
	BlobID string `json:"blobId"` // git object id (sha1 of "blob <size>\0" + content)
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs,omitempty"`
}

// RepoInfo is a repository revision: its commit and files.
type RepoInfo struct {
	ID    string `json:"id"`
	SHA   string `json:"sha"`
	Files []File `json:"siblings"`
}

func (c *Client) endpoint() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return DefaultEndpoint
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) get(ctx context.Context, u string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.http().Do(req)
}

// statusError maps a hub response status onto a domain error.
func statusError(resp *http.Response, what string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return crucible.Errorf(crucible.ENOTFOUND, "%s: not found on the hub (%s)", what, msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return crucible.Errorf(crucible.EUNAUTHORIZED, "%s: the hub refused access (%s %s)", what, resp.Status, msg).
			WithHint("gated or private repositories need a token: set HF_TOKEN")
	}
	return crucible.Errorf(crucible.EINTERNAL, "%s: hub answered %s: %s", what, resp.Status, msg)
}

// Info returns the commit and file list of a repository revision
// (GET /api/{models|datasets}/{repo}/revision/{rev}?blobs=true).
func (c *Client) Info(ctx context.Context, kind Kind, ref Ref) (*RepoInfo, error) {
	u := fmt.Sprintf("%s/api/%s/%s/revision/%s?blobs=true", c.endpoint(), kind.plural(), ref.Repo, url.PathEscape(ref.Rev))
	resp, err := c.get(ctx, u, nil)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "%s %s: reach the hub at %s", kind, ref, c.endpoint())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, fmt.Sprintf("%s %s", kind, ref))
	}
	var info RepoInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return nil, fmt.Errorf("%s %s: decode repository info: %w", kind, ref, err)
	}
	if !commitPattern.MatchString(info.SHA) {
		return nil, fmt.Errorf("%s %s: the hub gave no commit sha (got %q)", kind, ref, info.SHA)
	}
	return &info, nil
}

// Download fetches every file of ref whose path matches one of include
// (path.Match patterns tried on the full path and the base name; none means
// all) into the cache, and returns the snapshot directory. Files already in
// the cache are not fetched again; a partial download left by an earlier
// call is resumed with an HTTP Range request. Every file is checked against
// the hub's sha256 (LFS files) or git object id before it enters the cache.
func (c *Client) Download(ctx context.Context, kind Kind, ref Ref, include ...string) (string, error) {
	info, err := c.Info(ctx, kind, ref)
	if err != nil {
		return "", err
	}
	repoDir := c.Cache.RepoDir(kind, ref.Repo)
	snap := filepath.Join(repoDir, "snapshots", info.SHA)
	for _, f := range info.Files {
		if !matches(f.Path, include) {
			continue
		}
		if err := c.fetchFile(ctx, kind, ref.Repo, info.SHA, f, repoDir, snap); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(snap, 0o755); err != nil {
		return "", err
	}
	if ref.Rev != info.SHA {
		refFile := filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Rev))
		if err := os.MkdirAll(filepath.Dir(refFile), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(refFile, []byte(info.SHA), 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", refFile, err)
		}
	}
	return snap, nil
}

func matches(p string, include []string) bool {
	if len(include) == 0 {
		return true
	}
	for _, pat := range include {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
		if ok, _ := path.Match(pat, path.Base(p)); ok {
			return true
		}
	}
	return false
}

// fetchFile makes sure one file is in the blobs and linked from the
// snapshot.
func (c *Client) fetchFile(ctx context.Context, kind Kind, repo, sha string, f File, repoDir, snap string) error {
	if f.Path == "" || strings.HasPrefix(f.Path, "/") || strings.Contains(f.Path, "..") || strings.Contains(f.Path, "\\") {
		return fmt.Errorf("%s %s: unsafe file name %q in the repository listing", kind, repo, f.Path)
	}
	want, size := f.BlobID, f.Size
	if f.LFS != nil && f.LFS.SHA256 != "" {
		want, size = f.LFS.SHA256, f.LFS.Size
	}
	if want == "" {
		return fmt.Errorf("%s %s: the hub gave no checksum for %s", kind, repo, f.Path)
	}
	blob := filepath.Join(repoDir, "blobs", want)
	link := filepath.Join(snap, filepath.FromSlash(f.Path))
	if _, err := os.Stat(blob); err != nil {
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			return err
		}
		u := fmt.Sprintf("%s/%s/resolve/%s/%s", c.endpoint(), repoPath(kind, repo), sha, escapePath(f.Path))
		var err error
		for attempt := 0; ; attempt++ {
			err = c.fetchBlob(ctx, f.Path, u, blob, want, size)
			var ie *interruptedError
			if err == nil || !errors.As(err, &ie) || attempt >= c.Retries || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("download %s from %s %s: %w", f.Path, kind, repo, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	target, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

func repoPath(kind Kind, repo string) string {
	if kind == Dataset {
		return "datasets/" + repo
	}
	return repo
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// interruptedError is a transfer cut short; the partial file is kept for a
// resume.
type interruptedError struct{ err error }

func (e *interruptedError) Error() string {
	return "transfer interrupted (the partial file is kept; run again to resume): " + e.err.Error()
}
func (e *interruptedError) Unwrap() error { return e.err }

// fetchBlob downloads u into blob, going through blob.incomplete: a partial
// file is resumed with a Range request, the result is checked against want
// (a sha256, or a git object id when 40 hex digits long) and size, and only
// then renamed into place. A corrupt download is deleted.
func (c *Client) fetchBlob(ctx context.Context, name, u, blob, want string, size int64) error {
	part := blob + ".incomplete"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	header := http.Header{}
	if have > 0 && (size <= 0 || have < size) {
		header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	} else if have > 0 {
		have = 0 // as long as (or longer than) the file: start again
	}
	resp, err := c.get(ctx, u, header)
	if err != nil {
		return &interruptedError{err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		// Resuming: keep what we have, if the range starts where we stopped.
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
			f.Truncate(0)
			return &interruptedError{fmt.Errorf("the hub resumed at the wrong place (%s); starting over", resp.Header.Get("Content-Range"))}
		}
	case resp.StatusCode == http.StatusOK:
		have = 0 // the server ignored the range: start over
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		have = 0
		f.Truncate(0)
		return &interruptedError{errors.New("the hub refused to resume; starting over")}
	default:
		return statusError(resp, u)
	}
	// A sha256 ETag (or X-Linked-Etag) must agree with the listing.
	for _, h := range []string{"X-Linked-Etag", "ETag"} {
		tag := strings.Trim(strings.TrimPrefix(resp.Header.Get(h), "W/"), `"`)
		if len(tag) == 64 && len(want) == 64 && tag != want {
			return fmt.Errorf("the hub's %s %s disagrees with the listed sha256 %s", h, tag, want)
		}
	}
	if err := f.Truncate(have); err != nil {
		return err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return err
	}
	var body io.Reader = resp.Body
	if c.Progress != nil {
		c.Progress(name, have, size)
		body = &progressReader{r: resp.Body, have: have, fn: func(n int64) { c.Progress(name, n, size) }}
	}
	if _, err := io.Copy(f, body); err != nil {
		return &interruptedError{err}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	got, n, err := checksum(f, len(want) == 40)
	if err != nil {
		return err
	}
	if (size > 0 && n != size) || got != want {
		f.Close()
		os.Remove(part)
		return fmt.Errorf("checksum mismatch: got %d bytes with %s, the hub lists %d bytes with %s; the corrupt file was deleted", n, got, size, want)
	}
	f.Close()
	return os.Rename(part, blob)
}

// checksum hashes the whole file: sha256, or the git blob id (sha1 of
// "blob <size>\0" + content) when gitBlob is set.
func checksum(f *os.File, gitBlob bool) (string, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	var h hash.Hash
	if gitBlob {
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", st.Size())
	} else {
		h = sha256.New()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// progressReader reports the bytes read so far (from a starting count).
type progressReader struct {
	r    io.Reader
	have int64
	fn   func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.have += int64(n)
		p.fn(p.have)
	}
	return n, err
}
