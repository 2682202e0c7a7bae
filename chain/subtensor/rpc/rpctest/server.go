// Package rpctest is an in-process Substrate JSON-RPC server for tests: it
// answers over HTTP and WebSocket from recorded responses (replaying what a
// real node said) and from handlers a test installs, and fails loudly on
// any request it has no answer for.
package rpctest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/crucible-net/crucible/chain/subtensor/rpc"
)

// Handler answers one call. params is the request's params array.
type Handler func(params []json.RawMessage) (any, *rpc.Error)

// SubHandler answers a subscribing call with the notifications to send
// after the subscription id.
type SubHandler func(params []json.RawMessage) ([]any, *rpc.Error)

// Server is a JSON-RPC server on a loopback port.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	recorded map[string]json.RawMessage // method + canonical params → response object
	handlers map[string]Handler
	subs     map[string]SubHandler
	notify   map[string]string // subscribing method → notification method
	calls    []string
	nextSub  int
	conns    map[*websocket.Conn]bool
}

// NewServer starts a server; Close stops it.
func NewServer() *Server {
	s := &Server{recorded: map[string]json.RawMessage{}, handlers: map[string]Handler{}, subs: map[string]SubHandler{}, notify: map[string]string{}, conns: map[*websocket.Conn]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// WSURL returns the ws:// URL of the server.
func (s *Server) WSURL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

// HTTPURL returns the http:// URL of the server.
func (s *Server) HTTPURL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.CloseClientConnections(); s.srv.Close() }

// DropConnections closes every open WebSocket connection (as a node
// restart would).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.CloseNow()
	}
}

// Calls returns the methods called so far, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Record makes the server answer method called with params (JSON text of
// the params array) with response, a JSON-RPC response object holding
// "result" or "error" (its id is replaced by the request's).
func (s *Server) Record(method, params string, response json.RawMessage) error {
	key, err := canonical(method, json.RawMessage(params))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.recorded[key] = response
	s.mu.Unlock()
	return nil
}

// Handle installs a handler for method, used when no recorded response
// matches.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	s.handlers[method] = h
	s.mu.Unlock()
}

// HandleSubscription installs a subscribing method whose notifications are
// sent as notifyMethod.
func (s *Server) HandleSubscription(method, notifyMethod string, h SubHandler) {
	s.mu.Lock()
	s.subs[method] = h
	s.notify[method] = notifyMethod
	s.mu.Unlock()
}

// canonical renders method and params with hex strings normalised (no 0x,
// lower case), so "0x0100" and "0100" match as the node treats them.
func canonical(method string, params json.RawMessage) (string, error) {
	var v []any
	if len(params) > 0 {
		if err := json.Unmarshal(params, &v); err != nil {
			return "", fmt.Errorf("rpctest: params of %s: %w", method, err)
		}
	}
	for i, p := range v {
		if str, ok := p.(string); ok && strings.HasPrefix(str, "0x") {
			v[i] = strings.ToLower(str[2:])
		}
	}
	b, _ := json.Marshal(v)
	return method + " " + string(b), nil
}

type req struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// answer returns the response to one request and the notifications to send
// after it.
func (s *Server) answer(r req) (map[string]any, []map[string]any) {
	out := map[string]any{"jsonrpc": "2.0", "id": r.ID}
	raw, _ := json.Marshal(r.Params)
	key, _ := canonical(r.Method, raw)
	s.mu.Lock()
	s.calls = append(s.calls, r.Method)
	rec, hasRec := s.recorded[key]
	h := s.handlers[r.Method]
	sh := s.subs[r.Method]
	nm := s.notify[r.Method]
	s.nextSub++
	subID := fmt.Sprintf("sub%d", s.nextSub)
	s.mu.Unlock()
	switch {
	case hasRec:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(rec, &obj); err != nil {
			out["error"] = rpc.Error{Code: -32603, Message: "bad recorded response"}
			return out, nil
		}
		if e, ok := obj["error"]; ok {
			out["error"] = e
		} else {
			out["result"] = obj["result"]
		}
	case sh != nil:
		notes, err := sh(r.Params)
		if err != nil {
			out["error"] = err
			return out, nil
		}
		out["result"] = subID
		var ns []map[string]any
		for _, n := range notes {
			ns = append(ns, map[string]any{"jsonrpc": "2.0", "method": nm, "params": map[string]any{"subscription": subID, "result": n}})
		}
		return out, ns
	case h != nil:
		res, err := h(r.Params)
		if err != nil {
			out["error"] = err
		} else {
			out["result"] = res
		}
	default:
		out["error"] = rpc.Error{Code: -32601, Message: "rpctest: no recorded response or handler for " + key}
	}
	return out, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "" {
		s.serveWS(w, r)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, rpc.MaxMessage))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var q req
	if err := json.Unmarshal(b, &q); err != nil {
		http.Error(w, "not JSON-RPC", http.StatusBadRequest)
		return
	}
	resp, _ := s.answer(q)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.CloseNow()
	}()
	c.SetReadLimit(rpc.MaxMessage)
	ctx := r.Context()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var q req
		if json.Unmarshal(b, &q) != nil {
			continue
		}
		resp, notes := s.answer(q)
		if !write(ctx, c, resp) {
			return
		}
		for _, n := range notes {
			if !write(ctx, c, n) {
				return
			}
		}
	}
}

func write(ctx context.Context, c *websocket.Conn, v any) bool {
	b, err := json.Marshal(v)
	return err == nil && c.Write(ctx, websocket.MessageText, b) == nil
}
