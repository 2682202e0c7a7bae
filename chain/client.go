package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// SignFunc signs an outgoing write request as hotkey (setting whatever
// headers the server's Authenticator checks). The crucible command wires it
// to the sign package with the node's keys.
type SignFunc func(req *http.Request, hotkey string) error

// Client is a Chain served by a remote "crucible chain" (NewHandler).
type Client struct {
	base string
	hc   *http.Client
	sign SignFunc
}

var _ Chain = (*Client)(nil)
var _ Chain = (*Local)(nil)

// NewClient returns a client of the chain server at baseURL (e.g.
// "http://127.0.0.1:9944"). sign signs writes; hc may be nil for
// http.DefaultClient.
func NewClient(baseURL string, sign SignFunc, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, sign: sign}
}

func (c *Client) do(ctx context.Context, method, path, signAs string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return crucible.Wrap(err, crucible.EINTERNAL, "encode %s", path)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "chain request %s", path)
	}
	req.Header.Set("Content-Type", "application/json")
	if signAs != "" {
		if c.sign == nil {
			return crucible.Errorf(crucible.EUNAUTHORIZED, "chain client has no signer for writes")
		}
		if err := c.sign(req, signAs); err != nil {
			return fmt.Errorf("sign %s: %w", path, err)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "chain %s %s", method, path).
			WithHint("is the chain running? start one with: crucible chain")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "chain %s %s: read reply", method, path)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return crucible.Wrap(err, crucible.EINTERNAL, "chain %s %s: decode reply", method, path)
		}
	}
	return nil
}

// CurrentBlock returns the current block number.
func (c *Client) CurrentBlock(ctx context.Context) (int64, error) {
	var r BlockResponse
	err := c.do(ctx, http.MethodGet, "/v1/block", "", nil, &r)
	return r.Block, err
}

// Hyperparams returns the subnet's parameters.
func (c *Client) Hyperparams(ctx context.Context) (Hyperparams, error) {
	var p Hyperparams
	err := c.do(ctx, http.MethodGet, "/v1/hyperparams", "", nil, &p)
	return p, err
}

// Metagraph returns every neuron.
func (c *Client) Metagraph(ctx context.Context) (*Metagraph, error) {
	var m Metagraph
	if err := c.do(ctx, http.MethodGet, "/v1/metagraph", "", nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Register registers hotkey, signing as hotkey.
func (c *Client) Register(ctx context.Context, hotkey, coldkey string) (int, error) {
	var r RegisterResponse
	err := c.do(ctx, http.MethodPost, "/v1/register", hotkey, RegisterRequest{Hotkey: hotkey, Coldkey: coldkey}, &r)
	return r.UID, err
}

// ServeAxon publishes hotkey's address, signing as hotkey.
func (c *Client) ServeAxon(ctx context.Context, hotkey, ip string, port int) error {
	return c.do(ctx, http.MethodPost, "/v1/serve_axon", hotkey, ServeAxonRequest{Hotkey: hotkey, IP: ip, Port: port}, nil)
}

// SetWeights sets hotkey's weights, signing as hotkey.
func (c *Client) SetWeights(ctx context.Context, hotkey string, uids, weights []uint16, versionKey uint64) error {
	return c.do(ctx, http.MethodPost, "/v1/set_weights", hotkey,
		SetWeightsRequest{Hotkey: hotkey, UIDs: uids, Weights: weights, VersionKey: versionKey}, nil)
}

// AddStake adds stake to hotkey, signing as hotkey.
func (c *Client) AddStake(ctx context.Context, hotkey string, amount float64) error {
	return c.AddStakeAs(ctx, hotkey, hotkey, amount)
}

// AddStakeAs adds stake to hotkey, signing as signer (the hotkey or its
// coldkey).
func (c *Client) AddStakeAs(ctx context.Context, signer, hotkey string, amount float64) error {
	return c.do(ctx, http.MethodPost, "/v1/add_stake", signer, AddStakeRequest{Hotkey: hotkey, Amount: amount}, nil)
}

// Advance moves a manually clocked server's chain forward.
func (c *Client) Advance(ctx context.Context, blocks int64) error {
	return c.do(ctx, http.MethodPost, "/v1/advance", "", AdvanceRequest{Blocks: blocks}, nil)
}

// WaitBlock returns once the chain has reached block, or ctx is done. It
// long-polls the server, so no request is made per block.
func (c *Client) WaitBlock(ctx context.Context, block int64) error {
	for {
		var r BlockResponse
		if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/block?wait=%d", block), "", nil, &r); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if r.Block >= block {
			return nil
		}
	}
}
