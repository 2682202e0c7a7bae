package subtensor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/crucible"
)

// Client is a chain.Chain on a Subtensor node, for one subnet.
type Client struct {
	url  string
	opts Options

	connMu sync.Mutex
	conn   *rpc.Client // replaced when the connection drops

	mu      sync.Mutex
	rt      *runtimeInfo
	keys    map[[32]byte]Signer
	commits *commitStore
	writeMu sync.Mutex // one extrinsic at a time, so nonces stay in order
}

var _ chain.Chain = (*Client)(nil)

// Open connects to the node, reads its runtime and checks that the subnet
// exists.
func Open(ctx context.Context, opts Options) (*Client, error) {
	opts.setDefaults()
	u, err := NodeURL(opts.URL)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "subtensor")
	}
	conn, err := rpc.Dial(ctx, u)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor").
			WithHint("is a subtensor node listening there? A local one: docker run -p 9944:9944 ghcr.io/opentensor/subtensor-localnet:devnet-ready")
	}
	c := &Client{url: u, conn: conn, opts: opts, keys: map[[32]byte]Signer{}}
	for _, k := range opts.Keys {
		c.keys[k.PublicKey()] = k
	}
	if c.commits, err = openCommitStore(opts.CommitsFile); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.runtime(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	exists, err := c.subnetExists(ctx)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !exists {
		conn.Close()
		return nil, crucible.Errorf(crucible.ENOTFOUND, "subnet %d does not exist on %s", opts.NetUID, u).
			WithHint("check --netuid; btcli subnets list shows the subnets")
	}
	return c, nil
}

// Close closes the connection to the node.
func (c *Client) Close() error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn.Close()
}

// rpcConn returns the connection, dialing again if the last one dropped.
func (c *Client) rpcConn(ctx context.Context, dead *rpc.Client) (*rpc.Client, error) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if dead != nil && c.conn == dead {
		c.opts.Log.Warn("subtensor connection lost; reconnecting", "node", c.url)
		dead.Close()
		conn, err := rpc.Dial(ctx, c.url)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	return c.conn, nil
}

// call makes a JSON-RPC call, reconnecting once if the connection has
// dropped (reads and submissions are safe to repeat: a resubmitted
// extrinsic is the same bytes, which the pool refuses as a duplicate).
func (c *Client) call(ctx context.Context, out any, method string, params ...any) error {
	conn, err := c.rpcConn(ctx, nil)
	if err != nil {
		return err
	}
	err = conn.Call(ctx, out, method, params...)
	if !errors.Is(err, rpc.ErrClosed) {
		return err
	}
	if conn, err = c.rpcConn(ctx, conn); err != nil {
		return err
	}
	return conn.Call(ctx, out, method, params...)
}

// subscribe opens a subscription on the current connection.
func (c *Client) subscribe(ctx context.Context, method, unsubscribe string, params ...any) (*rpc.Subscription, error) {
	conn, err := c.rpcConn(ctx, nil)
	if err != nil {
		return nil, err
	}
	sub, err := conn.Subscribe(ctx, method, unsubscribe, params...)
	if errors.Is(err, rpc.ErrClosed) {
		if conn, err = c.rpcConn(ctx, conn); err != nil {
			return nil, err
		}
		return conn.Subscribe(ctx, method, unsubscribe, params...)
	}
	return sub, err
}

// NetUID returns the subnet the client works on.
func (c *Client) NetUID() uint16 { return c.opts.NetUID }

// nodeErr wraps a failed RPC call: node errors and transport failures are
// EINTERNAL with a hint at the node.
func (c *Client) nodeErr(err error, what string) error {
	var re *rpc.Error
	if errors.As(err, &re) {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s", what)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s", what).
		WithHint(fmt.Sprintf("is the node at %s up?", c.url))
}

// signer returns the key for an SS58 address, or EUNAUTHORIZED naming it.
func (c *Client) signer(addr, role string) (Signer, [32]byte, error) {
	pub, err := accountID(addr)
	if err != nil {
		return nil, pub, crucible.Wrap(err, crucible.EINVALID, "%s", role)
	}
	c.mu.Lock()
	s, ok := c.keys[pub]
	c.mu.Unlock()
	if !ok {
		return nil, pub, crucible.Errorf(crucible.EUNAUTHORIZED, "no key for %s %s: this node cannot sign for it", role, addr)
	}
	return s, pub, nil
}
