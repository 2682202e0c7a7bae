package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// LocalConfig configures a Local store.
type LocalConfig struct {
	// Dir is the root directory; created when missing. Objects live under
	// Dir/data, their recorded hashes under Dir/meta, writes in progress
	// under Dir/tmp.
	Dir string
}

// Local stores objects as files in a directory. Writes are atomic (a
// temporary file, fsynced, then renamed into place) and the SHA-256 is
// computed while writing. Because keys map to paths, a key cannot be both an
// object and a "directory" of others ("a" and "a/b"): Put returns ECONFLICT.
type Local struct {
	dir string
}

var _ Store = (*Local)(nil)

// staleTempAge is how old a leftover temporary file must be before NewLocal
// removes it (a write interrupted by a crash).
const staleTempAge = time.Hour

// NewLocal opens (creating when missing) a Local store.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "local blob store needs a directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("blob dir %s: %w", cfg.Dir, err)
	}
	for _, sub := range []string{"data", "meta", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create blob dir: %w", err)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
				_ = os.Remove(filepath.Join(dir, "tmp", e.Name()))
			}
		}
	}
	return &Local{dir: dir}, nil
}

func (l *Local) dataPath(key string) string {
	return filepath.Join(l.dir, "data", filepath.FromSlash(key))
}
func (l *Local) metaPath(key string) string {
	return filepath.Join(l.dir, "meta", filepath.FromSlash(key))
}

// meta is what Local records next to each object. Size and ModTime tie it
// to one version of the data file; when they do not match, the hash is
// recomputed.
type meta struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mod_time_ns"`
	SHA256  string `json:"sha256"`
}

// ctxReader fails reads once ctx is done, so a long copy stops promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeTemp copies r into a new fsynced file in the tmp directory and
// returns its path, size and SHA-256.
func (l *Local) writeTemp(ctx context.Context, r io.Reader) (path string, size int64, sum string, err error) {
	f, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, "", fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return "", 0, "", fmt.Errorf("write: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", 0, "", fmt.Errorf("fsync: %w", err)
	}
	if err = f.Close(); err != nil {
		return "", 0, "", fmt.Errorf("close: %w", err)
	}
	return f.Name(), size, hex.EncodeToString(h.Sum(nil)), nil
}

// place renames tmp to dst, creating dst's directory and syncing it.
func (l *Local) place(key, tmp, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return crucible.Errorf(crucible.ECONFLICT, "blob key %q: a parent of it is an object", key)
		}
		return err
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return crucible.Errorf(crucible.ECONFLICT, "blob key %q: other objects are stored under it", key)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Put stores r under key atomically and returns its size and SHA-256.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	tmp, size, sum, err := l.writeTemp(ctx, r)
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := l.place(key, tmp, l.dataPath(key)); err != nil {
		os.Remove(tmp)
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	fi, err := os.Stat(l.dataPath(key))
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := l.writeMeta(key, meta{Size: size, ModTime: fi.ModTime().UnixNano(), SHA256: sum}); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	return Info{Key: key, Size: size, SHA256: sum, ModTime: fi.ModTime().UTC()}, nil
}

func (l *Local) writeMeta(key string, m meta) error {
	b, _ := json.Marshal(m)
	f, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "meta-*")
	if err != nil {
		return fmt.Errorf("write hash record: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write hash record: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write hash record: %w", err)
	}
	if err := l.place(key, f.Name(), l.metaPath(key)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write hash record: %w", err)
	}
	return nil
}

// notFound maps a missing file (or a directory where an object would be)
// to ENOTFOUND.
func notFound(err error, key string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return crucible.Errorf(crucible.ENOTFOUND, "blob %q not found", key)
	}
	return err
}

// Get opens the object; the returned reader is an *os.File (seekable).
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(l.dataPath(key))
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", notFound(err, key))
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, crucible.Errorf(crucible.ENOTFOUND, "blob %q not found", key)
	}
	return f, nil
}

// Stat returns the object's size, SHA-256 and modification time, hashing the
// file again when the recorded hash belongs to another version of it.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(l.dataPath(key))
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", notFound(err, key))
	}
	info := Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	var m meta
	if b, err := os.ReadFile(l.metaPath(key)); err == nil && json.Unmarshal(b, &m) == nil &&
		m.Size == fi.Size() && m.ModTime == fi.ModTime().UnixNano() && m.SHA256 != "" {
		info.SHA256 = m.SHA256
		return info, nil
	}
	sum, err := hashFile(ctx, l.dataPath(key), sha256.New())
	if err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	info.SHA256 = sum
	_ = l.writeMeta(key, meta{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: sum})
	return info, nil
}

func hashFile(ctx context.Context, path string, h hash.Hash) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Delete removes the object and its hash record, and the directories left empty.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for _, p := range []string{l.dataPath(key), l.metaPath(key)} {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			continue // "key" is a prefix of other objects, not an object
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("delete blob %s: %w", key, err)
		}
		l.pruneDirs(p)
	}
	return nil
}

// pruneDirs removes the empty directories above path, up to the store's
// data and meta roots.
func (l *Local) pruneDirs(path string) {
	stops := map[string]bool{filepath.Join(l.dir, "data"): true, filepath.Join(l.dir, "meta"): true}
	for d := filepath.Dir(path); !stops[d] && strings.HasPrefix(d, l.dir); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// List returns the objects whose keys start with prefix, in key order.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	root := filepath.Join(l.dir, "data")
	start := root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirPart := prefix[:i]
		if ValidateKey(dirPart) != nil {
			return nil, nil // no valid key lies under it
		}
		start = filepath.Join(root, filepath.FromSlash(dirPart))
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return filepath.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
