// Package hub finds models and datasets in a local Hugging Face cache and
// downloads them into it from a Hugging Face compatible hub.
//
// The cache layout is the one huggingface_hub writes (HF_HUB_CACHE, by
// default $HF_HOME/hub or ~/.cache/huggingface/hub):
//
//	models--org--name/blobs/<sha256 or git oid>
//	models--org--name/refs/main                 (holds the commit sha)
//	models--org--name/snapshots/<commit>/<file> (symlink to ../../blobs/...)
//	datasets--org--name/...                     (the same, for datasets)
//
// so a cache filled by the Python tools is read as is, and one filled here
// works for them.
package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Kind is the kind of a hub repository.
type Kind string

// Repository kinds.
const (
	Model   Kind = "model"
	Dataset Kind = "dataset"
)

func (k Kind) plural() string { return string(k) + "s" }

// DefaultCacheDir returns the hub cache directory: HF_HUB_CACHE, else
// HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME honoured).
func DefaultCacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".cache", "huggingface", "hub")
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// Ref names a repository and a revision: "org/name" or "org/name@rev".
type Ref struct {
	Repo string // "org/name" (or "name" for the hub's old top-level models)
	Rev  string // branch, tag or commit; "main" when not given
}

func (r Ref) String() string { return r.Repo + "@" + r.Rev }

var (
	repoPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ParseRef parses "org/name" or "org/name@rev". Returns EINVALID for
// anything else.
func ParseRef(s string) (Ref, error) {
	repo, rev, _ := strings.Cut(s, "@")
	if rev == "" {
		rev = "main"
	}
	if !repoPattern.MatchString(repo) || strings.Contains(repo, "..") || strings.ContainsAny(rev, "\\") || strings.Contains(rev, "..") {
		return Ref{}, crucible.Errorf(crucible.EINVALID, "%q is not a hub repository id (want org/name or org/name@revision)", s)
	}
	return Ref{Repo: repo, Rev: rev}, nil
}

// Cache is a hub cache directory.
type Cache struct {
	Dir string
}

// RepoDir returns the cache folder of a repository, e.g.
// <dir>/models--org--name.
func (c Cache) RepoDir(kind Kind, repo string) string {
	return filepath.Join(c.Dir, kind.plural()+"--"+strings.ReplaceAll(repo, "/", "--"))
}

// Snapshot returns the snapshot folder of ref and the commit it is at,
// following refs/<rev> unless rev is a commit sha. Returns ENOTFOUND, with a
// hint saying where to put the files or how to download them, when the
// cache does not hold it.
func (c Cache) Snapshot(kind Kind, ref Ref) (dir, commit string, err error) {
	repoDir := c.RepoDir(kind, ref.Repo)
	commit = ref.Rev
	if !commitPattern.MatchString(ref.Rev) {
		b, err := os.ReadFile(filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Rev)))
		if err != nil {
			return "", "", c.missing(kind, ref, fmt.Sprintf("no %s in the cache at %s", filepath.Join("refs", ref.Rev), repoDir))
		}
		commit = strings.TrimSpace(string(b))
	}
	dir = filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", "", c.missing(kind, ref, fmt.Sprintf("no snapshot %s in the cache", dir))
	}
	return dir, commit, nil
}

func (c Cache) missing(kind Kind, ref Ref, why string) error {
	flag := ""
	if kind == Dataset {
		flag = " --dataset"
	}
	snap := filepath.Join(c.RepoDir(kind, ref.Repo), "snapshots", "<commit>")
	return crucible.Errorf(crucible.ENOTFOUND, "%s %s is not available offline: %s", kind, ref, why).
		WithHint(fmt.Sprintf("download it with \"crucible data pull%s %s\" where the hub is reachable (then copy %s here), "+
			"or put its files in %s and write the commit into %s, or pass a local directory instead",
			flag, ref, c.RepoDir(kind, ref.Repo), snap, filepath.Join(c.RepoDir(kind, ref.Repo), "refs", ref.Rev)))
}

// Resolver turns references to models or datasets into local directories.
type Resolver struct {
	Cache Cache
	Kind  Kind
}

// Resolve returns the directory of ref: ref itself when it is an existing
// file or directory (a path wins over a repository id of the same
// spelling), otherwise the cache snapshot of "org/name" or "org/name@rev".
// Returns ENOTFOUND with a hint when it is neither.
func (r Resolver) Resolve(ref string) (string, error) {
	if ref == "" {
		return "", crucible.Errorf(crucible.EINVALID, "empty %s reference", r.Kind)
	}
	if _, err := os.Stat(ref); err == nil {
		return ref, nil
	}
	looksLikePath := strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "~") || strings.Count(ref, "/") > 1 ||
		hasFileExt(ref)
	if looksLikePath {
		return "", crucible.Errorf(crucible.ENOTFOUND, "%s path %s does not exist", r.Kind, ref)
	}
	parsed, err := ParseRef(ref)
	if err != nil {
		return "", err
	}
	dir, _, err := r.Cache.Snapshot(r.Kind, parsed)
	return dir, err
}

// fileExts are the endings of dataset and model files. A reference ending in
// one (like "train.jsonl") names a local file, never a hub repository, so a
// missing one is reported as a missing file rather than as a repository
// absent from the cache.
var fileExts = []string{".json", ".jsonl", ".csv", ".tsv", ".parquet", ".safetensors", ".txt"}

func hasFileExt(ref string) bool {
	repo, _, _ := strings.Cut(ref, "@")
	for _, ext := range fileExts {
		if strings.HasSuffix(strings.ToLower(repo), ext) {
			return true
		}
	}
	return false
}

// ResolveModel resolves a model reference against the default cache (see
// Resolver.Resolve).
func ResolveModel(ref string) (string, error) {
	return Resolver{Cache: Cache{Dir: DefaultCacheDir()}, Kind: Model}.Resolve(ref)
}

// ResolveDataset resolves a dataset reference against the default cache.
func ResolveDataset(ref string) (string, error) {
	return Resolver{Cache: Cache{Dir: DefaultCacheDir()}, Kind: Dataset}.Resolve(ref)
}
