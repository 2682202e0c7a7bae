package reward

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// maxSidecar bounds a rewards file: MaxRewards rewards of the largest code.
const maxSidecar = crucible.MaxRewards*crucible.MaxRewardCodeSize + 64<<10

// SidecarPath is where a grpo dataset keeps the rewards it is meant to be
// trained with: beside it, named after it, ending in .rewards.json
// (datasets/arithmetic.jsonl → datasets/arithmetic.rewards.json). The
// validator builds synthetic grpo tasks only from datasets that have one.
func SidecarPath(dataset string) string {
	return strings.TrimSuffix(dataset, filepath.Ext(dataset)) + ".rewards.json"
}

// LoadSidecar reads the rewards beside dataset (see SidecarPath): a JSON
// array of rewards as the API takes them, each checked and compiled. ok is
// false, with no error, when the dataset has no rewards file.
func LoadSidecar(dataset string) (rs []crucible.Reward, ok bool, err error) {
	path := SidecarPath(dataset)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, crucible.Wrap(err, crucible.EINVALID, "rewards file %s", path)
	}
	defer f.Close()
	var buf bytes.Buffer
	if n, err := buf.ReadFrom(io.LimitReader(f, maxSidecar+1)); err != nil {
		return nil, false, crucible.Wrap(err, crucible.EINVALID, "rewards file %s", path)
	} else if n > maxSidecar {
		return nil, false, crucible.Errorf(crucible.EINVALID, "rewards file %s: over %d bytes", path, maxSidecar)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, false, crucible.Errorf(crucible.EINVALID, "rewards file %s: %v (want a JSON array of {\"name\", \"weight\", \"args\" or \"code\"})", path, err)
	}
	if err := crucible.ValidateRewards(rs); err != nil {
		return nil, false, crucible.Wrap(err, crucible.EINVALID, "rewards file %s", path)
	}
	if _, err := Compile(rs); err != nil {
		return nil, false, crucible.Wrap(err, crucible.EINVALID, "rewards file %s", path)
	}
	return rs, true, nil
}
