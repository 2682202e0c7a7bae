package subtensor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/chain/subtensor/metadata"
	"github.com/crucible-net/crucible/chain/subtensor/scale"
	"github.com/crucible-net/crucible/crucible"
)

// A commit is weights committed by hash (commit_weights) and not revealed
// yet (reveal_weights).
type commit struct {
	Hotkey     string   `json:"hotkey"`
	NetUID     uint16   `json:"netuid"`
	UIDs       []uint16 `json:"uids"`
	Values     []uint16 `json:"values"`
	Salt       []uint16 `json:"salt"`
	VersionKey uint64   `json:"version_key"`
	Hash       string   `json:"hash"`
	Block      int64    `json:"block"` // block at which it was committed
}

// commitHash is Subtensor's commit hash: BLAKE2b-256 of the SCALE tuple
// (hotkey AccountId, netuid index u16, uids Vec<u16>, values Vec<u16>,
// salt Vec<u16>, version_key u64). The netuid index is the netuid for the
// subnet's main mechanism.
func commitHash(hotkey [32]byte, netuid uint16, uids, values, salt []uint16, versionKey uint64) [32]byte {
	b := append([]byte(nil), hotkey[:]...)
	b = scale.AppendU16(b, netuid)
	b = scale.AppendU16s(b, uids)
	b = scale.AppendU16s(b, values)
	b = scale.AppendU16s(b, salt)
	b = scale.AppendU64(b, versionKey)
	return [32]byte(metadata.Blake2b256(b))
}

// commitStore keeps unrevealed commits, in a file when one is given.
type commitStore struct {
	mu      sync.Mutex
	path    string
	commits []commit
}

func openCommitStore(path string) (*commitStore, error) {
	s := &commitStore{path: path}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "read weight commits")
	}
	if err := json.Unmarshal(b, &s.commits); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "weight commits file %s", path).
			WithHint("it holds weights committed but not revealed; move it aside to start afresh")
	}
	return s, nil
}

func (s *commitStore) list() []commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]commit(nil), s.commits...)
}

// replace stores commits (and writes the file atomically).
func (s *commitStore) replace(commits []commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits = commits
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(commits, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "weight commits")
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "weight commits")
	}
	return os.Rename(tmp, s.path)
}

// commitWeights reveals the hotkey's commits that are due, then commits
// the new weights. A commit is due RevealPeriodEpochs epochs (of Tempo
// blocks) after it was made; the chain says RevealTooEarly if the estimate
// is early (the commit is kept) and drops commits that were not revealed
// in their window (so are they, here).
func (c *Client) commitWeights(ctx context.Context, rt *runtimeInfo, s Signer, pub [32]byte, block int64, p SubnetParams, uids, values []uint16, versionKey uint64) error {
	hotkey := address(pub)
	period := int64(p.RevealPeriodEpochs) * (p.Tempo + 1)
	var keep []commit
	for _, cm := range c.commits.list() {
		if cm.Hotkey != hotkey || cm.NetUID != c.opts.NetUID || block < cm.Block+period {
			keep = append(keep, cm)
			continue
		}
		call, err := encodeCall(rt.md, "SubtensorModule", "reveal_weights", map[string]any{
			"netuid": cm.NetUID, "uids": cm.UIDs, "values": cm.Values, "salt": cm.Salt, "version_key": cm.VersionKey})
		if err != nil {
			return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
		}
		_, err = c.submit(ctx, rt, s, call, "reveal_weights")
		var ce *chain.Error
		switch {
		case err == nil:
			c.opts.Log.Info("subtensor weights revealed", "hotkey", hotkey, "committed_at", cm.Block)
		case errors.As(err, &ce) && ce.Name == "RevealTooEarly":
			keep = append(keep, cm)
		case errors.As(err, &ce) && (ce.Name == "NoWeightsCommitFound" || ce.Name == "ExpiredWeightCommit" || ce.Name == "InvalidRevealCommitHashNotMatch"):
			c.opts.Log.Warn("subtensor weight commit dropped", "hotkey", hotkey, "committed_at", cm.Block, "reason", ce.Name)
		default:
			keep = append(keep, cm)
			_ = c.commits.replace(keep)
			return err
		}
	}
	if err := c.commits.replace(keep); err != nil {
		return err
	}
	salt := make([]uint16, 8)
	var rb [16]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return err
	}
	for i := range salt {
		salt[i] = binary.LittleEndian.Uint16(rb[2*i:])
	}
	h := commitHash(pub, c.opts.NetUID, uids, values, salt, versionKey)
	call, err := encodeCall(rt.md, "SubtensorModule", "commit_weights", map[string]any{"netuid": c.opts.NetUID, "commit_hash": h})
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	if _, err := c.submit(ctx, rt, s, call, "commit_weights"); err != nil {
		return err
	}
	cm := commit{Hotkey: hotkey, NetUID: c.opts.NetUID, UIDs: uids, Values: values, Salt: salt, VersionKey: versionKey,
		Hash: fmt.Sprintf("0x%x", h), Block: block}
	return c.commits.replace(append(c.commits.list(), cm))
}
