// Package hubtest is a local Hugging Face Hub for tests: the parts of its
// HTTP API crucible uses to push (repository creation, preupload, the LFS
// batch API with upload and verify, NDJSON commits) and to pull (revision
// info with blob ids and LFS hashes, file downloads), over model
// repositories kept in memory. Writes need the server's token.
package hubtest

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Hub is a running local hub.
type Hub struct {
	URL   string
	Token string // the one token writes are accepted with
	// LFSThreshold is the size from which preupload answers "lfs".
	// Defaults to 1 KiB.
	LFSThreshold int64

	mu      sync.Mutex
	repos   map[string]*repo
	objects map[string][]byte // LFS objects by sha256
	failPut int               // PUTs still to break off halfway
	puts    int               // LFS uploads completed
	seen    []string          // every request line
}

// Uploads is the number of LFS uploads completed.
func (h *Hub) Uploads() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.puts
}

// Requests returns every request line the hub got, to check what a client
// sent.
func (h *Hub) Requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

type repo struct {
	private bool
	commit  string
	files   map[string]file
}

type file struct {
	content []byte // a regular file
	oid     string // an LFS file's sha256
	size    int64
}

// New starts a hub that accepts writes with token.
func New(t testing.TB, token string) *Hub {
	h := &Hub{Token: token, LFSThreshold: 1 << 10, repos: map[string]*repo{}, objects: map[string][]byte{}}
	// The handlers read h.URL: it is set before the server starts serving
	// (the go statement in Start orders the write before every request),
	// not after, where a request from another process could race it.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	h.URL = "http://" + srv.Listener.Addr().String()
	srv.Start()
	t.Cleanup(srv.Close)
	return h
}

// BreakUploads makes the next n LFS uploads break off halfway.
func (h *Hub) BreakUploads(n int) {
	h.mu.Lock()
	h.failPut = n
	h.mu.Unlock()
}

// File returns a file of a repository as committed, and whether it exists
// (a dataset's repository is "datasets/ORG/NAME").
func (h *Hub) File(repoID, path string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.repos[repoID]
	if !ok {
		return nil, false
	}
	f, ok := r.files[path]
	if !ok {
		return nil, false
	}
	if f.oid != "" {
		return h.objects[f.oid], true
	}
	return f.content, true
}

// Private reports whether a repository was created private.
func (h *Hub) Private(repoID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repoID]
	return r != nil && r.private
}

// apiRepo turns "/api/models/ORG/NAME" into "ORG/NAME" and
// "/api/datasets/ORG/NAME" into "datasets/ORG/NAME", the keys repositories
// are kept under (a dataset's as its URL path names it).
func apiRepo(p string) string {
	if rest, ok := strings.CutPrefix(p, "/api/datasets/"); ok {
		return "datasets/" + rest
	}
	return strings.TrimPrefix(p, "/api/models/")
}

func (h *Hub) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+h.Token
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Method+" "+r.URL.String())
	h.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/api/repos/create":
		h.create(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/") && strings.Contains(p, "/preupload/"):
		h.preupload(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/") && strings.Contains(p, "/commit/"):
		h.commit(w, r, apiRepo(p[:strings.Index(p, "/commit/")]))
	case r.Method == http.MethodPost && strings.HasSuffix(p, ".git/info/lfs/objects/batch"):
		h.batch(w, r)
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/lfs/"):
		h.put(w, r, strings.TrimPrefix(p, "/lfs/"))
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/lfs-verify/"):
		h.verify(w, r, strings.TrimPrefix(p, "/lfs-verify/"))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/") && strings.Contains(p, "/revision/"):
		h.info(w, r, apiRepo(p[:strings.Index(p, "/revision/")]))
	case r.Method == http.MethodGet && strings.Contains(p, "/resolve/"):
		h.resolve(w, r)
	default:
		http.Error(w, "no such endpoint", http.StatusNotFound)
	}
}

func (h *Hub) create(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "Invalid credentials", http.StatusUnauthorized)
		return
	}
	var req struct {
		Name, Organization, Type string
		Private                  bool
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Name == "" || req.Organization == "" || (req.Type != "model" && req.Type != "dataset") {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	id := req.Organization + "/" + req.Name
	if req.Type == "dataset" {
		id = "datasets/" + id
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.repos[id]; ok {
		http.Error(w, `{"error":"You already created this model repo"}`, http.StatusConflict)
		return
	}
	h.repos[id] = &repo{private: req.Private, files: map[string]file{}}
	json.NewEncoder(w).Encode(map[string]string{"url": h.URL + "/" + id})
}

func (h *Hub) preupload(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "Invalid credentials", http.StatusUnauthorized)
		return
	}
	var req struct {
		Files []struct {
			Path   string `json:"path"`
			Size   int64  `json:"size"`
			Sample string `json:"sample"`
		} `json:"files"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type mode struct {
		Path       string `json:"path"`
		UploadMode string `json:"uploadMode"`
	}
	var out struct {
		Files []mode `json:"files"`
	}
	for _, f := range req.Files {
		m := "regular"
		if f.Size >= h.LFSThreshold {
			m = "lfs"
		}
		out.Files = append(out.Files, mode{f.Path, m})
	}
	json.NewEncoder(w).Encode(out)
}

func (h *Hub) batch(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "Invalid credentials", http.StatusUnauthorized)
		return
	}
	var req struct {
		Operation string `json:"operation"`
		Objects   []struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"objects"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Operation != "upload" {
		http.Error(w, "bad batch request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var objs []map[string]any
	for _, o := range req.Objects {
		obj := map[string]any{"oid": o.OID, "size": o.Size}
		if _, have := h.objects[o.OID]; !have {
			hdr := map[string]string{"Authorization": "Basic upload-" + o.OID[:8]}
			obj["actions"] = map[string]any{
				"upload": map[string]any{"href": h.URL + "/lfs/" + o.OID, "header": hdr},
				"verify": map[string]any{"href": h.URL + "/lfs-verify/" + o.OID, "header": hdr},
			}
		}
		objs = append(objs, obj)
	}
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	json.NewEncoder(w).Encode(map[string]any{"transfer": "basic", "objects": objs})
}

func (h *Hub) put(w http.ResponseWriter, r *http.Request, oid string) {
	if r.Header.Get("Authorization") != "Basic upload-"+oid[:min(8, len(oid))] {
		http.Error(w, "bad upload credentials", http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	fail := h.failPut > 0
	if fail {
		h.failPut--
	}
	h.mu.Unlock()
	if fail {
		io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		panic(http.ErrAbortHandler) // the connection breaks off mid-upload
	}
	b, err := io.ReadAll(r.Body)
	sum := sha256.Sum256(b)
	if err != nil || hex.EncodeToString(sum[:]) != oid {
		http.Error(w, "content does not match its oid", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.objects[oid] = b
	h.puts++
	h.mu.Unlock()
}

func (h *Hub) verify(w http.ResponseWriter, r *http.Request, oid string) {
	var req struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	h.mu.Lock()
	b, ok := h.objects[oid]
	h.mu.Unlock()
	if !ok || req.OID != oid || int64(len(b)) != req.Size {
		http.Error(w, "object missing or of another size", http.StatusNotFound)
	}
}

func (h *Hub) commit(w http.ResponseWriter, r *http.Request, id string) {
	if !h.authorized(r) {
		http.Error(w, "Invalid credentials", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "want NDJSON", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	rp, ok := h.repos[id]
	if !ok {
		http.Error(w, "Repository not found", http.StatusNotFound)
		return
	}
	staged := map[string]file{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	header := false
	for sc.Scan() {
		var line struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			http.Error(w, "bad NDJSON line", http.StatusBadRequest)
			return
		}
		var v struct {
			Summary, Path, Encoding, Content, Algo, OID string
			Size                                        int64
		}
		json.Unmarshal(line.Value, &v)
		switch line.Key {
		case "header":
			header = v.Summary != ""
		case "file":
			b, err := base64.StdEncoding.DecodeString(v.Content)
			if err != nil || v.Encoding != "base64" {
				http.Error(w, "bad file content", http.StatusBadRequest)
				return
			}
			staged[v.Path] = file{content: b, size: int64(len(b))}
		case "lfsFile":
			obj, ok := h.objects[v.OID]
			if !ok || v.Algo != "sha256" || int64(len(obj)) != v.Size {
				http.Error(w, fmt.Sprintf("LFS object of %s was not uploaded", v.Path), http.StatusBadRequest)
				return
			}
			staged[v.Path] = file{oid: v.OID, size: v.Size}
		default:
			http.Error(w, "unknown key "+line.Key, http.StatusBadRequest)
			return
		}
	}
	if !header {
		http.Error(w, "a commit needs a header with a summary", http.StatusBadRequest)
		return
	}
	for p, f := range staged {
		rp.files[p] = f
	}
	s := sha1.New()
	fmt.Fprint(s, rp.commit)
	for _, p := range sortedKeys(rp.files) {
		fmt.Fprint(s, p, rp.files[p].size, rp.files[p].oid)
	}
	rp.commit = hex.EncodeToString(s.Sum(nil))
	json.NewEncoder(w).Encode(map[string]string{"commitOid": rp.commit, "commitUrl": h.URL + "/" + id + "/commit/" + rp.commit})
}

func sortedKeys(m map[string]file) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (h *Hub) info(w http.ResponseWriter, r *http.Request, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rp, ok := h.repos[id]
	if !ok || rp.private && !h.authorized(r) {
		http.Error(w, "Repository not found", http.StatusNotFound)
		return
	}
	var sib []map[string]any
	for _, p := range sortedKeys(rp.files) {
		f := rp.files[p]
		e := map[string]any{"rfilename": p, "size": f.size}
		if f.oid != "" {
			e["lfs"] = map[string]any{"sha256": f.oid, "size": f.size}
			e["blobId"] = f.oid[:40]
		} else {
			s := sha1.New()
			fmt.Fprintf(s, "blob %d\x00", len(f.content))
			s.Write(f.content)
			e["blobId"] = hex.EncodeToString(s.Sum(nil))
		}
		sib = append(sib, e)
	}
	json.NewEncoder(w).Encode(map[string]any{"id": id, "sha": rp.commit, "siblings": sib})
}

func (h *Hub) resolve(w http.ResponseWriter, r *http.Request) {
	id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/resolve/")
	_, path, _ := strings.Cut(rest, "/")
	b, ok := h.File(id, path)
	if !ok || h.Private(id) && !h.authorized(r) {
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	w.Write(b)
}
