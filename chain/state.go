package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
)

// The local chain keeps its state in one JSON file, rewritten atomically
// (temporary file, fsync, rename) after every change. A subnet holds at most
// a few hundred neurons with sparse weight rows, so the whole state is small
// and a snapshot is simpler than a database: one mutex guards it, every write
// is all-or-nothing, there are no migrations, and an operator can read it.

const stateVersion = 1

type state struct {
	Version        int              `json:"version"`
	Block          int64            `json:"block"`
	LastEpochBlock int64            `json:"last_epoch_block"`
	Pending        int64            `json:"pending_emission_rao"` // emission accrued since the last epoch
	Stakes         map[string]int64 `json:"stakes_rao"`           // by hotkey; kept when a neuron is replaced
	Neurons        []neuronState    `json:"neurons"`
	Fees           []Fee            `json:"fees,omitempty"` // fees charged (tournament entries), burned
}

type neuronState struct {
	Hotkey         string      `json:"hotkey"`
	Coldkey        string      `json:"coldkey"`
	IP             string      `json:"ip,omitempty"`
	Port           int         `json:"port,omitempty"`
	AxonBlock      int64       `json:"axon_block,omitempty"`
	RegisteredAt   int64       `json:"registered_at"`
	LastUpdate     int64       `json:"last_update"`
	Active         bool        `json:"active"`
	Permit         bool        `json:"validator_permit"`
	Consensus      uint16      `json:"consensus"`
	Incentive      uint16      `json:"incentive"`
	Dividends      uint16      `json:"dividends"`
	ValidatorTrust uint16      `json:"validator_trust"`
	Trust          uint16      `json:"trust"`
	Emission       int64       `json:"emission_rao"`
	Weights        []UIDWeight `json:"weights,omitempty"`
	Bonds          []UIDWeight `json:"bonds,omitempty"`
}

// loadState reads the state file; a missing file is (nil, nil).
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "read chain state")
	}
	return parseState(path, b)
}

// StateStore keeps a local chain's state somewhere other than a file: in the
// validator's database, for a chain embedded in a validator.
type StateStore interface {
	// LoadChainState returns the saved state, or nil when there is none.
	LoadChainState(ctx context.Context) ([]byte, error)
	// SaveChainState replaces the saved state.
	SaveChainState(ctx context.Context, state []byte) error
}

// parseState decodes and checks a saved state; path names it in errors.
func parseState(path string, b []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, crucible.Errorf(crucible.EINVALID, "chain state %s: malformed JSON at byte %d: %v", path, se.Offset, err)
		}
		return nil, crucible.Errorf(crucible.EINVALID, "chain state %s: %v", path, err)
	}
	if st.Version != stateVersion {
		return nil, crucible.Errorf(crucible.EINVALID, "chain state %s: version %d, this crucible reads version %d", path, st.Version, stateVersion)
	}
	if st.Stakes == nil {
		st.Stakes = map[string]int64{}
	}
	n := len(st.Neurons)
	for uid, nr := range st.Neurons {
		for _, row := range [][]UIDWeight{nr.Weights, nr.Bonds} {
			for _, w := range row {
				if int(w.UID) >= n {
					return nil, crucible.Errorf(crucible.EINVALID, "chain state %s: neuron %d refers to uid %d of %d", path, uid, w.UID, n)
				}
			}
		}
	}
	return &st, nil
}

// save writes the state if the chain has a file; l.mu is held.
func (l *Local) save() error {
	if l.opts.Path == "" && l.opts.Store == nil {
		return nil
	}
	b, err := json.Marshal(l.st)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "encode chain state")
	}
	if l.opts.Store != nil {
		if err := l.opts.Store.SaveChainState(context.Background(), b); err != nil {
			return crucible.Wrap(err, crucible.EINTERNAL, "save chain state")
		}
		return nil
	}
	if err := writeAtomic(l.opts.Path, b); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "save chain state")
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("rename %s: %w", name, err)
	}
	return nil
}
