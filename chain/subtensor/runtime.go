package subtensor

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/crucible-net/crucible/chain/subtensor/metadata"
)

// runtimeInfo is what the client knows of the runtime it talks to.
type runtimeInfo struct {
	specName    string
	specVersion uint32
	txVersion   uint32
	genesis     [32]byte
	md          *metadata.Metadata
}

type runtimeVersion struct {
	SpecName           string `json:"specName"`
	SpecVersion        uint32 `json:"specVersion"`
	TransactionVersion uint32 `json:"transactionVersion"`
}

// runtime returns the current runtime, fetching its metadata again when
// the node reports a new spec version (a runtime upgrade).
func (c *Client) runtime(ctx context.Context) (*runtimeInfo, error) {
	var v runtimeVersion
	if err := c.call(ctx, &v, "state_getRuntimeVersion"); err != nil {
		return nil, c.nodeErr(err, "read the runtime version")
	}
	c.mu.Lock()
	rt := c.rt
	c.mu.Unlock()
	if rt != nil && rt.specVersion == v.SpecVersion && rt.specName == v.SpecName {
		return rt, nil
	}
	md, err := c.fetchMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := md.Pallet("SubtensorModule"); err != nil {
		return nil, fmt.Errorf("node %s runs %s, which has no SubtensorModule pallet: is it a Subtensor node?", c.url, v.SpecName)
	}
	var gh string
	if err := c.call(ctx, &gh, "chain_getBlockHash", 0); err != nil {
		return nil, c.nodeErr(err, "read the genesis hash")
	}
	g, err := decodeHash(gh)
	if err != nil {
		return nil, fmt.Errorf("genesis hash: %w", err)
	}
	rt = &runtimeInfo{specName: v.SpecName, specVersion: v.SpecVersion, txVersion: v.TransactionVersion, genesis: g, md: md}
	c.mu.Lock()
	c.rt = rt
	c.mu.Unlock()
	c.opts.Log.Info("subtensor runtime", "node", c.url, "spec", v.SpecName, "spec_version", v.SpecVersion, "metadata", md.Version)
	return rt, nil
}

// fetchMetadata asks for metadata V15 (which describes the runtime APIs)
// and falls back to state_getMetadata (V14) on runtimes without it.
func (c *Client) fetchMetadata(ctx context.Context) (*metadata.Metadata, error) {
	var res string
	err := c.call(ctx, &res, "state_call", "Metadata_metadata_at_version", "0x0f000000")
	if err == nil && res != "" && res != "0x00" {
		b, err := decodeHex(res)
		if err != nil {
			return nil, fmt.Errorf("metadata V15: %w", err)
		}
		return metadata.Parse(b)
	}
	if err := c.call(ctx, &res, "state_getMetadata"); err != nil {
		return nil, c.nodeErr(err, "read the runtime metadata")
	}
	b, err := decodeHex(res)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return metadata.Parse(b)
}

func decodeHex(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return nil, fmt.Errorf("%.20q is not 0x-prefixed hex", s)
	}
	return hex.DecodeString(s[2:])
}

func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := decodeHex(s)
	if err != nil {
		return h, err
	}
	if len(b) != 32 {
		return h, fmt.Errorf("hash %q is %d bytes, want 32", s, len(b))
	}
	copy(h[:], b)
	return h, nil
}

func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }
