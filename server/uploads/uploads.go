// Package uploads keeps the datasets customers upload to a validator, in a
// directory, each one checked row by row with the dataset readers before it
// is accepted. It is the validator node's implementation of
// server.Backend.SaveUpload, and its Resolver lets data preparation find an
// upload by the "upload:ID" reference a task names.
package uploads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
)

// Store keeps uploads under Dir: the file as dir/ID/NAME and its receipt as
// dir/ID.json; resumable uploads in progress as dir/sessions/ID.
type Store struct {
	dir  string
	sess sessions
	// MaxErrors caps the problems listed for a refused upload. Defaults to 50.
	MaxErrors int
}

// New returns a store in dir, creating it when missing.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uploads directory: %w", err)
	}
	return &Store{dir: dir, MaxErrors: 50}, nil
}

var (
	idRE      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	unsafeRE  = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
	refPrefix = "upload:"
)

// cleanName keeps the base of an uploaded file name in safe characters;
// its extension says how the file is read.
func cleanName(name string) (string, error) {
	base := filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	base = strings.Trim(unsafeRE.ReplaceAllString(base, "_"), "._")
	if len(base) > 120 {
		base = base[len(base)-120:]
	}
	if _, ok := data.FormatOf(base); !ok || base == "" {
		return "", crucible.Errorf(crucible.EINVALID, "%q is not a dataset file name", name).
			WithHint("name it with one of .json, .jsonl, .csv, .tsv, .parquet (text formats may add .gz)")
	}
	return base, nil
}

// Save stores r as the dataset file name for the account owner and checks
// every row. A dataset with problems is not kept: Save returns EINVALID
// together with the receipt, whose Errors list each problem as
// "NAME:line: field: problem". The upload belongs to owner: FindOwned
// shows it to nobody else.
func (s *Store) Save(ctx context.Context, owner, name string, r io.Reader) (*api.DatasetUpload, error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	var idb [16]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	tmp, err := os.MkdirTemp(s.dir, ".upload-")
	if err != nil {
		return nil, fmt.Errorf("save upload: %w", err)
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, clean)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("save upload: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("save upload %s: %w", clean, err)
	}
	up := &api.DatasetUpload{ID: id, Name: clean, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	return s.accept(ctx, owner, tmp, path, up)
}

// receipt is what is kept beside an upload: what its owner was told, and
// who the owner is.
type receipt struct {
	api.DatasetUpload
	Owner string `json:"owner"`
}

// accept checks the rows of the file at path (inside the temporary
// directory tmp), and when they pass moves tmp into place as upload up.ID
// of owner with its receipt. A dataset with problems returns EINVALID with
// the receipt listing them.
func (s *Store) accept(ctx context.Context, owner, tmp, path string, up *api.DatasetUpload) (*api.DatasetUpload, error) {
	clean := up.Name
	if up.Size == 0 {
		up.Errors = []string{clean + ": the file is empty"}
		return up, crucible.Errorf(crucible.EINVALID, "dataset %s is empty", clean)
	}
	rep, err := data.Check(path, data.CheckOptions{MaxErrors: s.MaxErrors})
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "check dataset %s", clean)
	}
	// Report problems by the name the customer knows, not the server path.
	rename := func(msg string) string { return strings.ReplaceAll(msg, path, clean) }
	for _, e := range rep.Errors {
		up.Errors = append(up.Errors, rename(e))
	}
	if rep.ErrorsOmitted > 0 {
		up.Errors = append(up.Errors, fmt.Sprintf("… and %d more", rep.ErrorsOmitted))
	}
	for _, w := range rep.Warnings {
		up.Warnings = append(up.Warnings, rename(w))
	}
	up.Rows, up.Format, up.Mapping, up.Reason = rep.Rows, rep.Type, rep.Mapping, rep.Reason
	if len(up.Errors) > 0 {
		return up, crucible.Errorf(crucible.EINVALID, "dataset %s has %d problem(s)", clean, len(rep.Errors)+rep.ErrorsOmitted)
	}
	if up.Rows == 0 {
		up.Errors = []string{clean + ": no rows to train on"}
		return up, crucible.Errorf(crucible.EINVALID, "dataset %s has no rows", clean)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, up.ID)); err != nil {
		return nil, fmt.Errorf("save upload: %w", err)
	}
	rec, _ := json.MarshalIndent(receipt{DatasetUpload: *up, Owner: owner}, "", "  ")
	if err := os.WriteFile(filepath.Join(s.dir, up.ID+".json"), rec, 0o644); err != nil {
		return nil, fmt.Errorf("save upload receipt: %w", err)
	}
	return up, nil
}

// Find returns the receipt of upload id, whoever owns it (data
// preparation of a task that was allowed to name it). Returns ENOTFOUND.
func (s *Store) Find(id string) (*api.DatasetUpload, error) {
	rec, err := s.find(id)
	if err != nil {
		return nil, err
	}
	return &rec.DatasetUpload, nil
}

// FindOwned returns the receipt of upload id when owner made it; another
// account's upload (or one from before uploads had owners) is ENOTFOUND,
// as if it did not exist.
func (s *Store) FindOwned(owner, id string) (*api.DatasetUpload, error) {
	rec, err := s.find(id)
	if err != nil {
		return nil, err
	}
	if owner == "" || rec.Owner != owner {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %s", id)
	}
	return &rec.DatasetUpload, nil
}

func (s *Store) find(id string) (*receipt, error) {
	if !idRE.MatchString(id) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %q", id)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, id+".json"))
	if os.IsNotExist(err) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	var rec receipt
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	return &rec, nil
}

// Path returns the file of upload id. Returns ENOTFOUND.
func (s *Store) Path(id string) (string, error) {
	up, err := s.Find(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, id, up.Name), nil
}

// HubPrefix marks a dataset reference that must resolve in the Hugging
// Face cache and nowhere else: the server names customers' hub datasets
// "hf:org/name", so that a customer can never make the validator read a
// server path that happens to look like a repository id.
const HubPrefix = "hf:"

// Resolver resolves "upload:ID" to the upload's file, "hf:org/name[@rev]"
// to its snapshot in Cache (never a path), and hands every other reference
// (an admin's path or id) to Next, for example a hub.Resolver.
type Resolver struct {
	Uploads *Store
	Cache   *hub.Cache
	Next    interface {
		Resolve(ref string) (string, error)
	}
}

// Resolve implements the dataset resolver of validator.DataPreparer.
func (r Resolver) Resolve(ref string) (string, error) {
	if id, ok := strings.CutPrefix(ref, refPrefix); ok {
		if r.Uploads == nil {
			return "", crucible.Errorf(crucible.ENOTFOUND, "no upload %s", id)
		}
		return r.Uploads.Path(id)
	}
	if id, ok := strings.CutPrefix(ref, HubPrefix); ok {
		if r.Cache == nil {
			return "", crucible.Errorf(crucible.ENOTFOUND, "dataset %s is not in the cache", id)
		}
		parsed, err := hub.ParseRef(id)
		if err != nil {
			return "", err
		}
		dir, _, err := r.Cache.Snapshot(hub.Dataset, parsed)
		if err != nil {
			// The cache's own hint is for operators and names server paths.
			return "", crucible.Errorf(crucible.ENOTFOUND, "dataset %s is not in the validator's cache", id).
				WithHint("upload the dataset file instead, or ask the validator's operator to pull it")
		}
		return dir, nil
	}
	if r.Next == nil {
		return "", crucible.Errorf(crucible.ENOTFOUND, "dataset %s not found", ref)
	}
	return r.Next.Resolve(ref)
}

// DisplayName is the name a customer knows a task's dataset by: an upload's
// file name ("upload:ID"), a hub dataset's id ("hf:ORG/NAME"); "" for
// anything else.
func (s *Store) DisplayName(ref string) string {
	if id, ok := strings.CutPrefix(ref, refPrefix); ok {
		if up, err := s.Find(id); err == nil {
			return up.Name
		}
		return ""
	}
	if id, ok := strings.CutPrefix(ref, HubPrefix); ok {
		return id
	}
	return ""
}
