package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
)

// LocalDataset finds what a task's --dataset names on this machine: a file
// is sent as it is; a directory (a Hugging Face dataset folder, or any
// folder of data files) or a dataset in the local Hugging Face cache is
// read with the dataset readers and sent as one JSONL file, written under
// tmp. It returns "" for a name that is neither (a dataset the validator
// resolves, or an upload:ID), and what it found.
func LocalDataset(name, tmp string) (path, what string, err error) {
	st, err := os.Stat(name)
	switch {
	case err == nil && !st.IsDir():
		return name, "", nil
	case err == nil:
		path, err := packDataset(name, filepath.Base(filepath.Clean(name)), tmp)
		return path, "the folder " + name, err
	case strings.HasPrefix(name, "upload:"):
		return "", "", nil
	}
	ref, perr := hub.ParseRef(strings.TrimPrefix(name, "hf:"))
	if perr != nil || !strings.Contains(ref.Repo, "/") {
		return "", "", nil
	}
	dir, err := (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Dataset}).Resolve(ref.Repo + "@" + ref.Rev)
	if err != nil {
		return "", "", nil // not cached here: the validator's cache may have it
	}
	path, err = packDataset(dir, strings.ReplaceAll(ref.Repo, "/", "--"), tmp)
	return path, "the cached Hugging Face dataset " + ref.Repo, err
}

// packDataset reads every row of the dataset at src (a file or a folder of
// data files) and writes them as JSONL to tmp/NAME.jsonl.
func packDataset(src, name, tmp string) (string, error) {
	r, err := data.Open(src)
	if err != nil {
		return "", crucible.Wrap(err, crucible.EINVALID, "dataset %s", src)
	}
	defer r.Close()
	out := filepath.Join(tmp, name+".jsonl")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	enc := json.NewEncoder(f)
	rows := 0
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return "", crucible.Wrap(err, crucible.EINVALID, "dataset %s", src)
		}
		if err := enc.Encode(row.Values); err != nil {
			f.Close()
			return "", err
		}
		rows++
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if rows == 0 {
		return "", crucible.Errorf(crucible.EINVALID, "dataset %s has no rows", src)
	}
	return out, nil
}

// DescribeHints says which hyperparameter hints go to the miners; "" for
// none.
func DescribeHints(h *crucible.Hints) string {
	if h.Empty() {
		return ""
	}
	b, _ := json.Marshal(h)
	return fmt.Sprintf("hints for miners: %s (their strategies may follow them; the hidden test split decides)", b)
}

// ParseMapping turns "field=column" pairs into a column mapping; nil for
// none.
func ParseMapping(pairs []string) (*crucible.ColumnMapping, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	vals := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, crucible.Errorf(crucible.EINVALID, "--map %q: want field=column, e.g. field_instruction=question", p)
		}
		vals[k] = v
	}
	b, _ := json.Marshal(vals)
	var m crucible.ColumnMapping
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "--map: %v", err).
			WithHint("fields are field_instruction, field_input, field_output, field_system, chat_column, field_prompt, field_chosen, field_rejected, field_text, ...")
	}
	return &m, nil
}
