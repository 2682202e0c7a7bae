// Package rpc is a JSON-RPC 2.0 client for Substrate nodes, over WebSocket
// (ws://, wss://: calls and subscriptions) or HTTP (http://, https://:
// calls only).
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// MaxMessage bounds one response (runtime metadata is about 1 MB of hex;
// a large subnet's metagraph a few MB).
const MaxMessage = 64 << 20

// Error is an error object returned by the node.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string {
	if len(e.Data) > 0 && string(e.Data) != "null" {
		return fmt.Sprintf("rpc error %d: %s: %s", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// ErrClosed is returned by calls on a closed client or after the
// connection dropped.
var ErrClosed = errors.New("rpc: connection closed")

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type response struct {
	ID     *uint64         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	Method string          `json:"method"`
	Params *struct {
		Subscription json.RawMessage `json:"subscription"`
		Result       json.RawMessage `json:"result"`
	} `json:"params"`
}

// Client talks to one node.
type Client struct {
	url  string
	http *http.Client // HTTP transport; nil for WebSocket
	ws   *websocket.Conn

	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan response
	subs    map[string]*Subscription
	early   map[string][]json.RawMessage // notifications that beat the subscribe reply
	err     error                        // set once the connection is gone
	done    chan struct{}
}

// Dial connects to url: ws:// or wss:// open a WebSocket, http:// or
// https:// use plain HTTP POSTs (no subscriptions).
func Dial(ctx context.Context, url string) (*Client, error) {
	c := &Client{url: url, pending: map[uint64]chan response{}, subs: map[string]*Subscription{}, early: map[string][]json.RawMessage{}, done: make(chan struct{})}
	switch {
	case strings.HasPrefix(url, "http://"), strings.HasPrefix(url, "https://"):
		c.http = &http.Client{Timeout: 2 * time.Minute}
		return c, nil
	case strings.HasPrefix(url, "ws://"), strings.HasPrefix(url, "wss://"):
	default:
		return nil, fmt.Errorf("rpc: %q: the node URL must start with ws://, wss://, http:// or https://", url)
	}
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("rpc: connect to %s: %w", url, err)
	}
	conn.SetReadLimit(MaxMessage)
	c.ws = conn
	go c.readLoop()
	return c, nil
}

// URL returns the node's URL.
func (c *Client) URL() string { return c.url }

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Client) Close() error {
	if c.ws == nil {
		return nil
	}
	// No closing handshake: a node busy with a long call would hold it up
	// for seconds, and nothing is lost by skipping it.
	err := c.ws.CloseNow()
	<-c.done
	return err
}

// Call invokes method and decodes its result into result (which may be nil
// to discard it). A JSON null result leaves result untouched.
func (c *Client) Call(ctx context.Context, result any, method string, params ...any) error {
	raw, err := c.call(ctx, method, params)
	if err != nil {
		return err
	}
	if result == nil || string(raw) == "null" || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("rpc %s: decode result: %w", method, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	req := request{JSONRPC: "2.0", ID: c.nextID.Add(1), Method: method, Params: params}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("rpc %s: encode params: %w", method, err)
	}
	if c.http != nil {
		return c.callHTTP(ctx, method, body)
	}
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.pending[req.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}()
	if err := c.ws.Write(ctx, websocket.MessageText, body); err != nil {
		return nil, fmt.Errorf("rpc %s: send: %w (%v)", method, ErrClosed, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("rpc %s: %w", method, c.closedErr())
		}
		if r.Error != nil {
			return nil, fmt.Errorf("rpc %s: %w", method, r.Error)
		}
		return r.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("rpc %s: %w", method, ctx.Err())
	}
}

func (c *Client) callHTTP(ctx context.Context, method string, body []byte) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rpc %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessage+1))
	if err != nil {
		return nil, fmt.Errorf("rpc %s: read reply: %w", method, err)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("rpc %s: reply larger than %d bytes", method, MaxMessage)
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("rpc %s: HTTP %d, reply is not JSON-RPC: %.200s", method, resp.StatusCode, b)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("rpc %s: %w", method, r.Error)
	}
	return r.Result, nil
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

func (c *Client) readLoop() {
	defer close(c.done)
	ctx := context.Background()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.shutdown(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		var r response
		if json.Unmarshal(b, &r) != nil {
			continue // not JSON-RPC: ignore
		}
		c.mu.Lock()
		switch {
		case r.ID != nil:
			if ch, ok := c.pending[*r.ID]; ok {
				ch <- r
			}
		case r.Params != nil:
			id := subID(r.Params.Subscription)
			if s, ok := c.subs[id]; ok {
				s.push(r.Params.Result)
			} else if len(c.early[id]) < 16 {
				c.early[id] = append(c.early[id], r.Params.Result)
			}
		}
		c.mu.Unlock()
	}
}

func (c *Client) shutdown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	for id, s := range c.subs {
		s.close(err)
		delete(c.subs, id)
	}
}

// subID normalises a subscription id, which nodes send as a string or a
// number.
func subID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
