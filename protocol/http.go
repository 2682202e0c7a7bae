package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Target returns the context that makes a signing http.Client sign for
// (and address) the node with the given hotkey; sign.WithTarget is one.
type Target func(ctx context.Context, hotkey string) context.Context

// HTTPMiners dials miners over HTTP at the address each serves on, with
// client (which signs as the validator) and target (which names the miner
// to sign for; nil leaves requests unaddressed).
func HTTPMiners(client *http.Client, target Target) MinerDialer {
	return func(n *crucible.Node) Miner { return &httpMiner{client: client, target: target, node: n} }
}

type httpMiner struct {
	client *http.Client
	target Target
	node   *crucible.Node
}

func (m *httpMiner) Offer(ctx context.Context, o api.TaskOffer) (api.OfferResponse, error) {
	var resp api.OfferResponse
	return resp, m.call(ctx, http.MethodPost, api.PathTaskOffer, o, &resp)
}

func (m *httpMiner) StartTraining(ctx context.Context, req api.TrainRequest) (api.TrainResponse, error) {
	var resp api.TrainResponse
	return resp, m.call(ctx, http.MethodPost, api.PathStartTraining, req, &resp)
}

func (m *httpMiner) TaskStatus(ctx context.Context, taskID string) (api.MinerTaskStatus, error) {
	var st api.MinerTaskStatus
	return st, m.call(ctx, http.MethodGet, api.PathTaskStatus+url.PathEscape(taskID), nil, &st)
}

func (m *httpMiner) Announce(ctx context.Context, a api.TournamentAnnouncement) (api.AnnounceResponse, error) {
	var resp api.AnnounceResponse
	return resp, m.call(ctx, http.MethodPost, api.PathTournamentAnnounce, a, &resp)
}

func (m *httpMiner) Info(ctx context.Context) (api.MinerInfo, error) {
	var info api.MinerInfo
	return info, m.call(ctx, http.MethodGet, api.PathMinerInfo, nil, &info)
}

// call sends a JSON request to the miner and decodes its answer.
func (m *httpMiner) call(ctx context.Context, method, path string, body, out any) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	if m.target != nil {
		ctx = m.target(ctx, m.node.Hotkey)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+m.node.Addr()+path, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.ResponseError(resp)
	}
	return api.DecodeJSON(resp.Body, 1<<20, out)
}

// HTTPValidators dials validators over HTTP, with client (which signs as
// the miner) and target (which names the validator to sign for).
func HTTPValidators(client *http.Client, target Target) ValidatorDialer {
	return func(hotkey string) Validator { return &httpValidator{client: client, target: target, hotkey: hotkey} }
}

type httpValidator struct {
	client *http.Client
	target Target
	hotkey string
}

func (v *httpValidator) ctx(ctx context.Context) context.Context {
	if v.target != nil && v.hotkey != "" {
		return v.target(ctx, v.hotkey)
	}
	return ctx
}

func (v *httpValidator) Download(ctx context.Context, link string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "download offset %d is negative", offset)
	}
	req, err := http.NewRequestWithContext(v.ctx(ctx), http.MethodGet, link, nil)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "download link")
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		var first int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &first); err != nil || first != offset {
			resp.Body.Close()
			return nil, crucible.Errorf(crucible.EINTERNAL, "download: asked for bytes from %d, got %q", offset, resp.Header.Get("Content-Range"))
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusOK:
		// Served whole (what cannot seek, such as a model's tar made on
		// the fly): skip what the caller has.
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, crucible.Errorf(crucible.EINVALID, "download offset %d is past the end of the content", offset)
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		var total int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes */%d", &total); err == nil && total == offset {
			return io.NopCloser(strings.NewReader("")), nil // all of it is there already
		}
		return nil, crucible.Errorf(crucible.EINVALID, "download offset %d is past the end of the content", offset)
	}
	defer resp.Body.Close()
	return nil, api.ResponseError(resp)
}

func (v *httpValidator) Upload(ctx context.Context, uploadURL string, body io.Reader) (*api.UploadResponse, error) {
	req, err := http.NewRequestWithContext(v.ctx(ctx), http.MethodPut, uploadURL, body)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "upload URL")
	}
	if f, ok := body.(*File); ok {
		start, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(f) // the caller closes its file
		req.ContentLength = f.Size
		req.Header.Set(api.HeaderBodySHA256, f.SHA256)
		req.GetBody = func() (io.ReadCloser, error) {
			if _, err := f.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
			return io.NopCloser(f), nil
		}
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, api.ResponseError(resp)
	}
	var receipt api.UploadResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&receipt); err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "upload receipt")
	}
	return &receipt, nil
}

func (v *httpValidator) Enter(ctx context.Context, entryURL string, e api.EnterRequest) (*api.EntryReceipt, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tournament entry")
	}
	req, err := http.NewRequestWithContext(v.ctx(ctx), http.MethodPost, entryURL, bytes.NewReader(body))
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "entry URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, api.ResponseError(resp)
	}
	var receipt api.EntryReceipt
	if err := api.DecodeJSON(resp.Body, 1<<20, &receipt); err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "entry receipt")
	}
	return &receipt, nil
}

// maxResultsPage bounds a page of the results log a miner reads.
const maxResultsPage = 64 << 20

func (v *httpValidator) Results(ctx context.Context, resultsURL string, after int64) ([]*crucible.ResultEntry, error) {
	u, err := resultsPage(resultsURL, after)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(v.ctx(ctx), http.MethodGet, u, nil)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "results URL")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, api.ResponseError(resp)
	}
	var out []*crucible.ResultEntry
	if err := api.DecodeJSON(resp.Body, maxResultsPage, &out); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "results log page")
	}
	return out, nil
}

// resultsPage is the URL of the results log page after after: the results
// URL must name the log (api.PathResults), nothing else.
func resultsPage(resultsURL string, after int64) (string, error) {
	u, err := url.Parse(resultsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", crucible.Errorf(crucible.EINVALID, "results URL %q is not an http(s) URL", resultsURL)
	}
	if u.Path != api.PathResults {
		return "", crucible.Errorf(crucible.ENOTFOUND, "%q is not a results log (want %s)", resultsURL, api.PathResults)
	}
	if after < 0 {
		return "", crucible.Errorf(crucible.EINVALID, "results after %d: negative", after)
	}
	u.RawQuery = url.Values{"after": {strconv.FormatInt(after, 10)}}.Encode()
	return u.String(), nil
}

// ResultsHandler serves srv's public results log at api.PathResults
// (?after=SEQ&limit=N, at most 1000 entries a page).
func ResultsHandler(srv ValidatorServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			api.WriteError(w, crucible.Errorf(crucible.EINVALID, "the results log is read with GET"))
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 1000
		}
		entries, err := srv.Results(r.Context(), "", max(after, 0), limit)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		if entries == nil {
			entries = []*crucible.ResultEntry{}
		}
		api.WriteJSON(w, http.StatusOK, entries)
	})
}

// MinerHandler serves srv's endpoints (api.PathTaskOffer,
// api.PathStartTraining, api.PathTaskStatus). The caller wraps it with the
// signature-verifying middleware; caller returns a request's verified
// hotkey.
func MinerHandler(srv MinerServer, caller func(*http.Request) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathTaskOffer, jsonCall(1<<20, caller, srv.Offer))
	mux.HandleFunc("POST "+api.PathStartTraining, jsonCall(1<<20, caller, srv.StartTraining))
	mux.HandleFunc("POST "+api.PathTournamentAnnounce, jsonCall(1<<20, caller, srv.Announce))
	mux.HandleFunc("GET "+api.PathTaskStatus+"{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := srv.TaskStatus(r.Context(), caller(r), r.PathValue("id"))
		reply(w, st, err)
	})
	if is, ok := srv.(InfoServer); ok {
		mux.HandleFunc("GET "+api.PathMinerInfo, func(w http.ResponseWriter, r *http.Request) {
			info, err := is.Info(r.Context(), caller(r))
			reply(w, info, err)
		})
	}
	return mux
}

// reply writes v as JSON, or err.
// jsonCall is the handler of a signed JSON call: the body, at most limit
// bytes, decoded as the request, then f with the verified caller.
func jsonCall[Req, Resp any](limit int64, caller func(*http.Request) string, f func(context.Context, string, Req) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := api.DecodeJSON(r.Body, limit, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		resp, err := f(r.Context(), caller(r), req)
		reply(w, resp, err)
	}
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, v)
}

// ValidatorHandler serves srv's endpoints: result uploads under
// api.PathUpload (to be wrapped with signature verification; caller
// returns the verified hotkey) and download links under api.PathBlob
// (which carry their own signature).
func ValidatorHandler(srv ValidatorServer, caller func(*http.Request) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+api.PathUpload+"{task}/{name}", func(w http.ResponseWriter, r *http.Request) {
		receipt, err := srv.Upload(r.Context(), caller(r), r.PathValue("task"), r.PathValue("name"), r.Body)
		reply(w, receipt, err)
	})
	mux.HandleFunc("POST "+api.PathTournamentEntries+"{id}"+api.TournamentEntriesSuffix, func(w http.ResponseWriter, r *http.Request) {
		var req api.EnterRequest
		if err := api.DecodeJSON(r.Body, 1<<16, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		receipt, err := srv.Enter(r.Context(), caller(r), r.PathValue("id"), req)
		reply(w, receipt, err)
	})
	mux.HandleFunc("GET "+api.PathBlob+"{key...}", func(w http.ResponseWriter, r *http.Request) {
		rc, err := srv.OpenLink(r.Context(), r.PathValue("key"), r.URL.Query())
		if err != nil {
			api.WriteError(w, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		if rs, ok := rc.(io.ReadSeeker); ok {
			// A stored file: byte ranges, so that a broken download resumes.
			http.ServeContent(w, r, "", time.Time{}, rs)
			return
		}
		io.Copy(w, rc)
	})
	return mux
}

// splitPath returns what follows prefix in a URL's path, and its query:
// the in-process transport reads the URLs a validator handed out (download
// links, upload URLs) the way its HTTP server would.
func splitPath(raw, prefix string) (rest string, q url.Values, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, crucible.Errorf(crucible.EINVALID, "URL %q: %v", raw, err)
	}
	rest, ok := strings.CutPrefix(u.Path, prefix)
	if !ok || rest == "" {
		return "", nil, crucible.Errorf(crucible.ENOTFOUND, "no such endpoint: %s", u.Path)
	}
	return rest, u.Query(), nil
}
