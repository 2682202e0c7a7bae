package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Pushing a directory to a repository uses the hub's HTTP API, no git:
//
//	POST /api/repos/create                       {"name", "organization", "type", "private"}; 409: it exists
//	POST /api/{models|datasets}/REPO/preupload/REV   {"files": [{"path", "size", "sample"}]} → each file's uploadMode
//	POST /REPO.git/info/lfs/objects/batch        the LFS batch API: where to PUT each large file (nothing for
//	                                             a file the hub already has, which is what makes a push resumable)
//	PUT  the upload href, then POST the verify href
//	POST /api/{models|datasets}/REPO/commit/REV  NDJSON: a header line, then "file" (small files, base64) and
//	                                             "lfsFile" (path, sha256, size) lines

// PushOptions configure Push.
type PushOptions struct {
	Private bool   // create the repository private
	Message string // the commit's summary; defaults to "Upload with crucible"
	// Revision is the branch to commit to. Defaults to "main".
	Revision string
}

// PushResult says what a push did.
type PushResult struct {
	URL       string   `json:"url"`    // the repository's page
	Commit    string   `json:"commit"` // the commit's id
	Files     int      `json:"files"`
	Uploaded  []string `json:"uploaded"` // large files sent (those the hub lacked)
	Reused    []string `json:"reused"`   // large files the hub had already: not sent again
	BytesSent int64    `json:"bytes_sent"`
}

// pushFile is one file of the directory being pushed.
type pushFile struct {
	path   string // in the repository, slash-separated
	local  string
	size   int64
	sha256 string
	sample []byte
	lfs    bool
}

// Push creates the repository (unless it exists) and commits the regular
// files of dir to it in one commit. Large files go through the LFS batch
// API; a file the hub already holds is not sent again, so a push broken
// off is resumed by running it again. The token (Client.Token, HF_TOKEN)
// is sent only as an Authorization header and appears in no error.
func (c *Client) Push(ctx context.Context, kind Kind, repo, dir string, opt PushOptions) (*PushResult, error) {
	if _, err := ParseRef(repo); err != nil || !strings.Contains(repo, "/") || strings.Contains(repo, "@") {
		return nil, crucible.Errorf(crucible.EINVALID, "repository %q is not ORG/NAME", repo)
	}
	if c.Token == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "pushing to the hub needs a token").
			WithHint("set HF_TOKEN to a token with write access (huggingface.co/settings/tokens)")
	}
	if opt.Revision == "" {
		opt.Revision = "main"
	}
	if opt.Message == "" {
		opt.Message = "Upload with crucible"
	}
	files, err := scanPush(dir)
	if err != nil {
		return nil, err
	}
	if err := c.createRepo(ctx, kind, repo, opt.Private); err != nil {
		return nil, err
	}
	if err := c.preupload(ctx, kind, repo, opt.Revision, files); err != nil {
		return nil, err
	}
	res := &PushResult{URL: c.endpoint() + "/" + repoPath(kind, repo), Files: len(files)}
	if err := c.uploadLFS(ctx, kind, repo, opt.Revision, files, res); err != nil {
		return nil, err
	}
	if res.Commit, err = c.commit(ctx, kind, repo, opt, files); err != nil {
		return nil, err
	}
	return res, nil
}

// scanPush lists the regular files of dir with their sizes, hashes and
// samples.
func scanPush(dir string) ([]*pushFile, error) {
	var files []*pushFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f := &pushFile{path: filepath.ToSlash(rel), local: p}
		if err := f.hash(); err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "push %s: no files", dir)
	}
	sort.Slice(files, func(a, b int) bool { return files[a].path < files[b].path })
	return files, nil
}

func (f *pushFile) hash() error {
	r, err := os.Open(f.local)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	f.size, f.sha256 = n, hex.EncodeToString(h.Sum(nil))
	f.sample = make([]byte, min(n, 512))
	_, err = r.ReadAt(f.sample, 0)
	if err == io.EOF {
		err = nil
	}
	return err
}

// send makes a request with the token and returns the response when its
// status is one of ok; otherwise the hub's error, naming what.
func (c *Client) send(ctx context.Context, method, u, contentType string, body io.Reader, what string, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "%s: reach the hub at %s", what, c.endpoint())
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, statusError(resp, what)
}

func (c *Client) sendJSON(ctx context.Context, u string, in, out any, what string, ok ...int) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	resp, err := c.send(ctx, http.MethodPost, u, "application/json", bytes.NewReader(b), what, ok...)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
			return resp.StatusCode, crucible.Wrap(err, crucible.EINTERNAL, "%s: read the hub's answer", what)
		}
	}
	return resp.StatusCode, nil
}

// createRepo creates the repository; one that exists already is fine.
func (c *Client) createRepo(ctx context.Context, kind Kind, repo string, private bool) error {
	org, name, _ := strings.Cut(repo, "/")
	body := map[string]any{"name": name, "organization": org, "type": string(kind), "private": private}
	_, err := c.sendJSON(ctx, c.endpoint()+"/api/repos/create", body, nil, "create "+repo, http.StatusOK, http.StatusCreated, http.StatusConflict)
	return err
}

// preupload asks the hub which files go through LFS.
func (c *Client) preupload(ctx context.Context, kind Kind, repo, rev string, files []*pushFile) error {
	type entry struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		Sample string `json:"sample"`
	}
	var req struct {
		Files []entry `json:"files"`
	}
	for _, f := range files {
		req.Files = append(req.Files, entry{f.path, f.size, base64.StdEncoding.EncodeToString(f.sample)})
	}
	var resp struct {
		Files []struct {
			Path       string `json:"path"`
			UploadMode string `json:"uploadMode"`
		} `json:"files"`
	}
	u := fmt.Sprintf("%s/api/%s/%s/preupload/%s", c.endpoint(), kind.plural(), repo, url.PathEscape(rev))
	if _, err := c.sendJSON(ctx, u, req, &resp, "preupload to "+repo, http.StatusOK); err != nil {
		return err
	}
	lfs := map[string]bool{}
	for _, f := range resp.Files {
		lfs[f.Path] = f.UploadMode == "lfs"
	}
	for _, f := range files {
		f.lfs = lfs[f.path]
	}
	return nil
}

// lfsAction is one href of the LFS batch API's answer.
type lfsAction struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

// uploadLFS sends the large files the hub does not have yet.
func (c *Client) uploadLFS(ctx context.Context, kind Kind, repo, rev string, files []*pushFile, res *PushResult) error {
	type object struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	var objs []object
	byOID := map[string]*pushFile{}
	for _, f := range files {
		if f.lfs {
			objs = append(objs, object{f.sha256, f.size})
			byOID[f.sha256] = f
		}
	}
	if len(objs) == 0 {
		return nil
	}
	req := map[string]any{"operation": "upload", "transfers": []string{"basic"}, "objects": objs, "hash_algo": "sha256",
		"ref": map[string]string{"name": rev}}
	var resp struct {
		Objects []struct {
			OID     string `json:"oid"`
			Size    int64  `json:"size"`
			Actions map[string]lfsAction
			Error   *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"objects"`
	}
	b, _ := json.Marshal(req)
	r, err := c.send(ctx, http.MethodPost, c.endpoint()+"/"+repoPath(kind, repo)+".git/info/lfs/objects/batch", "application/vnd.git-lfs+json",
		bytes.NewReader(b), "LFS batch for "+repo, http.StatusOK)
	if err != nil {
		return err
	}
	err = json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&resp)
	r.Body.Close()
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "LFS batch for %s: read the hub's answer", repo)
	}
	for _, o := range resp.Objects {
		f := byOID[o.OID]
		if f == nil {
			return crucible.Errorf(crucible.EINTERNAL, "LFS batch for %s: the hub answered for an object it was not asked about", repo)
		}
		if o.Error != nil {
			return crucible.Errorf(crucible.EINTERNAL, "LFS upload of %s: the hub refused it: %d %s", f.path, o.Error.Code, o.Error.Message)
		}
		up, ok := o.Actions["upload"]
		if !ok {
			res.Reused = append(res.Reused, f.path)
			continue
		}
		if err := c.putLFS(ctx, f, up); err != nil {
			return err
		}
		if v, ok := o.Actions["verify"]; ok {
			if err := c.verifyLFS(ctx, f, v); err != nil {
				return err
			}
		}
		res.Uploaded = append(res.Uploaded, f.path)
		res.BytesSent += f.size
	}
	return nil
}

// putLFS sends one file to the href the batch API gave.
func (c *Client) putLFS(ctx context.Context, f *pushFile, a lfsAction) error {
	r, err := os.Open(f.local)
	if err != nil {
		return err
	}
	defer r.Close()
	var body io.Reader = r
	if c.Progress != nil {
		c.Progress(f.path, 0, f.size)
		body = &progressReader{r: r, fn: func(n int64) { c.Progress(f.path, n, f.size) }}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, a.Href, body)
	if err != nil {
		return err
	}
	req.ContentLength = f.size
	for k, v := range a.Header {
		req.Header.Set(k, v)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "upload %s", f.path)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp, "upload "+f.path)
	}
	return nil
}

// verifyLFS asks the hub to check an uploaded file.
func (c *Client) verifyLFS(ctx context.Context, f *pushFile, a lfsAction) error {
	b, _ := json.Marshal(map[string]any{"oid": f.sha256, "size": f.size})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Href, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.git-lfs+json")
	for k, v := range a.Header {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "verify %s", f.path)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp, "verify "+f.path)
	}
	return nil
}

// commit writes every file in one commit and returns its id.
func (c *Client) commit(ctx context.Context, kind Kind, repo string, opt PushOptions, files []*pushFile) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.Encode(map[string]any{"key": "header", "value": map[string]string{"summary": opt.Message, "description": ""}})
	for _, f := range files {
		if f.lfs {
			enc.Encode(map[string]any{"key": "lfsFile", "value": map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
			continue
		}
		b, err := os.ReadFile(f.local)
		if err != nil {
			return "", err
		}
		enc.Encode(map[string]any{"key": "file", "value": map[string]string{"path": f.path, "encoding": "base64", "content": base64.StdEncoding.EncodeToString(b)}})
	}
	u := fmt.Sprintf("%s/api/%s/%s/commit/%s", c.endpoint(), kind.plural(), repo, url.PathEscape(opt.Revision))
	resp, err := c.send(ctx, http.MethodPost, u, "application/x-ndjson", &buf, "commit to "+repo, http.StatusOK, http.StatusCreated)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		CommitOID string `json:"commitOid"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", crucible.Wrap(err, crucible.EINTERNAL, "commit to %s: read the hub's answer", repo)
	}
	return out.CommitOID, nil
}
