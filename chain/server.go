package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Audience is the target a signed write to a chain server is signed for
// (the value of the signed-for field of crucible's request signatures).
const Audience = "crucible-chain"

// Authenticator verifies a signed request whose full body is body and
// returns the address that signed it. Errors should be *crucible.Error
// (EUNAUTHORIZED for a bad signature). The crucible command wires it to the
// sign package.
type Authenticator func(r *http.Request, body []byte) (signer string, err error)

// BlockWaiter is a chain that can wait for a block (Local, Client).
type BlockWaiter interface {
	// WaitBlock returns once the chain has reached block, or ctx is done.
	WaitBlock(ctx context.Context, block int64) error
}

// maxBlockWait bounds how long GET /v1/block?wait=N holds a request.
const maxBlockWait = 30 * time.Second

// Advancer is a chain whose clock can be moved by hand (Local, Client).
type Advancer interface {
	Advance(ctx context.Context, blocks int64) error
}

// ServerOptions configure NewHandler.
type ServerOptions struct {
	// Authenticate checks writes. Nil refuses every write.
	Authenticate Authenticator
	// AllowAdvance exposes POST /v1/advance, which moves the clock of a
	// chain that implements Advancer (for a manually clocked chain).
	AllowAdvance bool
}

// maxRequestBody bounds the body of a write.
const maxRequestBody = 1 << 20

// Wire types of the chain HTTP API.
type (
	// RegisterRequest is the body of POST /v1/register.
	RegisterRequest struct {
		Hotkey  string `json:"hotkey"`
		Coldkey string `json:"coldkey"`
	}
	// RegisterResponse is its reply.
	RegisterResponse struct {
		UID int `json:"uid"`
	}
	// ServeAxonRequest is the body of POST /v1/serve_axon.
	ServeAxonRequest struct {
		Hotkey string `json:"hotkey"`
		IP     string `json:"ip"`
		Port   int    `json:"port"`
	}
	// SetWeightsRequest is the body of POST /v1/set_weights.
	SetWeightsRequest struct {
		Hotkey     string   `json:"hotkey"`
		UIDs       []uint16 `json:"uids"`
		Weights    []uint16 `json:"weights"`
		VersionKey uint64   `json:"version_key"`
	}
	// AddStakeRequest is the body of POST /v1/add_stake; it may be signed
	// by the hotkey or by its coldkey.
	AddStakeRequest struct {
		Hotkey string  `json:"hotkey"`
		Amount float64 `json:"amount"` // TAO
	}
	// AdvanceRequest is the body of POST /v1/advance.
	AdvanceRequest struct {
		Blocks int64 `json:"blocks"`
	}
	// BlockResponse is the reply of GET /v1/block.
	BlockResponse struct {
		Block int64 `json:"block"`
	}
	// ErrorResponse is the body of every error reply: crucible's error body
	// and, for a named refusal, Subtensor's name for it.
	ErrorResponse struct {
		api.ErrorResponse
		Name string `json:"name,omitempty"` // Subtensor's name, for named refusals
	}
)

// NewHandler serves c over HTTP JSON:
//
//	GET  /v1/block         {"block": n}; ?wait=N holds the reply (up to 30 s) until block N
//	GET  /v1/hyperparams   Hyperparams
//	GET  /v1/metagraph     Metagraph
//	POST /v1/register      RegisterRequest  → RegisterResponse   (signed by the hotkey)
//	POST /v1/serve_axon    ServeAxonRequest                      (signed by the hotkey)
//	POST /v1/set_weights   SetWeightsRequest                     (signed by the hotkey)
//	POST /v1/add_stake     AddStakeRequest                       (signed by the hotkey or its coldkey)
//	POST /v1/advance       AdvanceRequest → BlockResponse        (only with AllowAdvance)
func NewHandler(c Chain, opts ServerOptions) http.Handler {
	s := &server{c: c, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/block", s.block)
	mux.HandleFunc("GET /v1/hyperparams", func(w http.ResponseWriter, r *http.Request) {
		p, err := c.Hyperparams(r.Context())
		reply(w, p, err)
	})
	mux.HandleFunc("GET /v1/metagraph", func(w http.ResponseWriter, r *http.Request) {
		m, err := c.Metagraph(r.Context())
		reply(w, m, err)
	})
	mux.HandleFunc("POST /v1/register", s.register)
	mux.HandleFunc("POST /v1/serve_axon", s.serveAxon)
	mux.HandleFunc("POST /v1/set_weights", s.setWeights)
	mux.HandleFunc("POST /v1/add_stake", s.addStake)
	mux.HandleFunc("POST /v1/advance", s.advance)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, crucible.Errorf(crucible.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type server struct {
	c    Chain
	opts ServerOptions
}

func (s *server) block(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query().Get("wait"); q != "" {
		target, err := strconv.ParseInt(q, 10, 64)
		if err != nil {
			writeError(w, crucible.Errorf(crucible.EINVALID, "wait=%q: not a block number", q))
			return
		}
		bw, ok := s.c.(BlockWaiter)
		if !ok {
			writeError(w, crucible.Errorf(crucible.EINVALID, "this chain cannot wait for blocks"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), maxBlockWait)
		err = bw.WaitBlock(ctx, target)
		cancel()
		if err != nil && r.Context().Err() != nil {
			return // the caller went away
		}
		// On timeout, reply with the current block; the caller asks again.
	}
	b, err := s.c.CurrentBlock(r.Context())
	reply(w, BlockResponse{Block: b}, err)
}

// signed reads and authenticates a write and decodes its body into v.
func (s *server) signed(r *http.Request, v any) (string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return "", crucible.Wrap(err, crucible.EINVALID, "read request")
	}
	if len(body) > maxRequestBody {
		return "", crucible.Errorf(crucible.ETOOLARGE, "request body is larger than %d bytes", maxRequestBody)
	}
	if s.opts.Authenticate == nil {
		return "", crucible.Errorf(crucible.EFORBIDDEN, "this chain server accepts no writes")
	}
	signer, err := s.opts.Authenticate(r, body)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", crucible.Errorf(crucible.EINVALID, "request body: %v", err)
	}
	return signer, nil
}

func signerMust(signer, hotkey string) error {
	if signer != hotkey {
		return crucible.Errorf(crucible.EFORBIDDEN, "request signed by %s acts for hotkey %s; sign it with that hotkey", signer, hotkey)
	}
	return nil
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	signer, err := s.signed(r, &req)
	if err == nil {
		err = signerMust(signer, req.Hotkey)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	uid, err := s.c.Register(r.Context(), req.Hotkey, req.Coldkey)
	reply(w, RegisterResponse{UID: uid}, err)
}

func (s *server) serveAxon(w http.ResponseWriter, r *http.Request) {
	var req ServeAxonRequest
	signer, err := s.signed(r, &req)
	if err == nil {
		err = signerMust(signer, req.Hotkey)
	}
	if err == nil {
		err = s.c.ServeAxon(r.Context(), req.Hotkey, req.IP, req.Port)
	}
	reply(w, struct{}{}, err)
}

func (s *server) setWeights(w http.ResponseWriter, r *http.Request) {
	var req SetWeightsRequest
	signer, err := s.signed(r, &req)
	if err == nil {
		err = signerMust(signer, req.Hotkey)
	}
	if err == nil {
		err = s.c.SetWeights(r.Context(), req.Hotkey, req.UIDs, req.Weights, req.VersionKey)
	}
	reply(w, struct{}{}, err)
}

func (s *server) addStake(w http.ResponseWriter, r *http.Request) {
	var req AddStakeRequest
	signer, err := s.signed(r, &req)
	if err == nil && signer != req.Hotkey {
		// The hotkey's owner may stake to it too.
		var m *Metagraph
		if m, err = s.c.Metagraph(r.Context()); err == nil {
			n, ferr := m.Node(req.Hotkey)
			if ferr != nil || n.Coldkey != signer {
				err = crucible.Errorf(crucible.EFORBIDDEN, "request signed by %s: only hotkey %s or its coldkey may stake to it", signer, req.Hotkey)
			}
		}
	}
	if err == nil {
		err = s.c.AddStake(r.Context(), req.Hotkey, req.Amount)
	}
	reply(w, struct{}{}, err)
}

func (s *server) advance(w http.ResponseWriter, r *http.Request) {
	a, ok := s.c.(Advancer)
	if !s.opts.AllowAdvance || !ok {
		writeError(w, crucible.Errorf(crucible.EFORBIDDEN, "this chain's clock runs by itself; it cannot be advanced by hand"))
		return
	}
	var req AdvanceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(&req); err != nil {
		writeError(w, crucible.Errorf(crucible.EINVALID, "request body: %v", err))
		return
	}
	if req.Blocks < 0 || req.Blocks > 1_000_000 {
		writeError(w, crucible.Errorf(crucible.EINVALID, "blocks = %d: must be in 0..1000000", req.Blocks))
		return
	}
	err := a.Advance(r.Context(), req.Blocks)
	if err != nil {
		writeError(w, err)
		return
	}
	s.block(w, r)
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The connection is gone; nothing more can be told to the caller.
		return
	}
}

// writeError answers with err, with the status crucible's one mapping
// (api.HTTPStatus) gives its code.
func writeError(w http.ResponseWriter, err error) {
	body := ErrorResponse{ErrorResponse: api.NewErrorResponse(err)}
	var ce *Error
	if errors.As(err, &ce) {
		body.Name, body.Message = ce.Name, ce.Message
	}
	api.WriteJSON(w, api.HTTPStatus(body.Code), body)
}

// decodeError rebuilds the error of an error reply.
func decodeError(status int, b []byte) error {
	var e ErrorResponse
	if err := json.Unmarshal(b, &e); err != nil || e.Code == "" {
		return crucible.Errorf(api.ErrorCode(status), "chain server: HTTP %d: %s", status, truncate(b, 200))
	}
	if e.Name != "" {
		return &Error{Name: e.Name, Code: e.Code, Message: e.Message}
	}
	return &crucible.Error{Code: e.Code, Message: e.Message, Hint: e.Hint}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%s…", b[:n])
	}
	return string(b)
}
