package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tokens"
)

// TokenCache keeps token stores in a directory, each named by a hash of
// what made it (the dataset's bytes, the tokenizer's files, the task type
// and mapping, the maximum length, whether prompts count), so that every
// run on the same data and tokenizer reuses one tokenization.
type TokenCache struct {
	Dir string
	// MaxBytes caps the stores kept: past it the least recently used go
	// (never the one just asked for). 0 means no cap.
	MaxBytes int64
	// Log, when set, receives what the cache does (hits, builds, evictions).
	Log func(msg string)
}

// DefaultTokenCacheBytes is the size cap a node's token cache uses unless
// configured otherwise.
const DefaultTokenCacheBytes = 50 << 30

// staleTemp is how long a temporary file of a token store may go unwritten
// before it is taken for the leftover of a killed process.
const staleTemp = 10 * time.Minute

// Tokens returns the token store of the dataset at path under opt, from
// the cache when it holds a valid one, else written now (and kept).
// opt.TokenizerSHA256 must name the tokenizer (its files' hash; see
// FilesSHA256). The store is verified (checksum and ids) before use; a
// cached store that fails is rebuilt. The caller closes the store.
func (c TokenCache) Tokens(ctx context.Context, path string, opt TokenFileOptions) (*tokens.Store, *TokenSource, bool, error) {
	if c.Dir == "" || opt.TokenizerSHA256 == "" {
		return nil, nil, false, errors.New("token cache: a directory and the tokenizer's hash are required")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, nil, false, crucible.Wrap(err, crucible.EINVALID, "token cache %s", c.Dir)
	}
	typ, mapping, reason, err := Settle(path, opt.Type, opt.Mapping)
	if err != nil {
		return nil, nil, false, err
	}
	opt.Type, opt.Mapping = typ, WithDefaults(typ, mapping)
	if opt.Reason == "" {
		opt.Reason = reason
	}
	c.removeStale()
	if opt.DataSHA256 != "" {
		file := c.file(opt)
		if st, src, ok := c.reuse(file); ok {
			return st, src, true, nil
		}
		return c.write(ctx, path, file, opt)
	}
	// The dataset's hash names the store, so it is needed before the
	// cache can be looked in; it takes a sequential read of the whole
	// dataset on one core. Tokenizing starts at the same time, on the
	// other cores, into a file of its own: on a hit it is stopped (and
	// removed), on a miss it has a head start and is renamed to the
	// store's name once written.
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	hashed := make(chan string, 1)
	var hashErr error
	go func() {
		sum, err := DatasetSHA256(hctx, path)
		hashErr = err
		hashed <- sum
	}()
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	pending := filepath.Join(c.Dir, fmt.Sprintf("%s%d-%d.tokens.safetensors", pendingPrefix, os.Getpid(), time.Now().UnixNano()))
	type written struct {
		src *TokenSource
		err error
	}
	done := make(chan written, 1)
	wopt := opt
	wopt.dataSum = func() (string, error) {
		select {
		case sum := <-hashed:
			hashed <- sum // for the caller below, too
			return sum, hashErr
		case <-tctx.Done():
			return "", tctx.Err()
		}
	}
	go func() {
		src, _, err := WriteTokenFile(tctx, path, pending, wopt)
		done <- written{src, err}
	}()
	var (
		sum string
		w   *written
	)
	select {
	case sum = <-hashed:
		hashed <- sum
	case r := <-done:
		if r.err != nil {
			// A bad row (or anything else) before the hash came: the
			// data cannot be in the cache.
			hcancel()
			os.Remove(pending)
			return nil, nil, false, r.err
		}
		// Written: the store had the hash to record, so it is here.
		w = &r
		sum = <-hashed
	}
	stop := func() {
		if w == nil {
			tcancel()
			<-done
		}
		os.Remove(pending)
	}
	if hashErr != nil {
		stop()
		return nil, nil, false, crucible.Wrap(hashErr, crucible.EINVALID, "read dataset %s", path)
	}
	opt.DataSHA256 = sum
	file := c.file(opt)
	if st, src, ok := c.reuse(file); ok {
		stop()
		return st, src, true, nil
	}
	if w == nil {
		r := <-done
		w = &r
	}
	if w.err != nil {
		os.Remove(pending)
		return nil, nil, false, w.err
	}
	if err := os.Rename(pending, file); err != nil {
		os.Remove(pending)
		return nil, nil, false, crucible.Wrap(err, crucible.EINTERNAL, "token cache: keep the store")
	}
	return c.opened(file, w.src)
}

// pendingPrefix starts the names of stores being written while the
// dataset's hash, and so the store's name, is not known yet.
const pendingPrefix = ".pending-"

// file is the cache's file for a dataset (opt.DataSHA256 set) under opt.
func (c TokenCache) file(opt TokenFileOptions) string {
	key, _ := json.Marshal(map[string]any{"format": tokens.Format, "version": tokens.Version, "data": opt.DataSHA256, "tokenizer": opt.TokenizerSHA256,
		"type": opt.Type, "mapping": opt.Mapping, "max_length": opt.Tokenize.MaxLength, "train_on_inputs": opt.Tokenize.TrainOnInputs, "vocab": opt.VocabSize})
	sum := sha256.Sum256(key)
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:16])+".tokens.safetensors")
}

// reuse opens the cached store at file when it is there and valid; an
// invalid one is removed.
func (c TokenCache) reuse(file string) (*tokens.Store, *TokenSource, bool) {
	st, src, err := openVerified(file)
	if err == nil {
		now := time.Now()
		os.Chtimes(file, now, now)
		c.logf("tokens: reusing %s (%d sequences, %d tokens)", file, st.Meta().Sequences, st.Meta().Tokens)
		return st, src, true
	}
	if !errors.Is(err, os.ErrNotExist) {
		c.logf("tokens: %s is unusable (%v); tokenizing again", file, err)
		os.Remove(file)
	}
	return nil, nil, false
}

// write tokenizes the dataset into file.
func (c TokenCache) write(ctx context.Context, path, file string, opt TokenFileOptions) (*tokens.Store, *TokenSource, bool, error) {
	src, _, err := WriteTokenFile(ctx, path, file, opt)
	if err != nil {
		return nil, nil, false, err
	}
	return c.opened(file, src)
}

// opened opens the store just written at file and applies the size cap.
func (c TokenCache) opened(file string, src *TokenSource) (*tokens.Store, *TokenSource, bool, error) {
	st, err := tokens.Open(file)
	if err != nil {
		return nil, nil, false, crucible.Wrap(err, crucible.EINTERNAL, "open the token store just written")
	}
	c.evict(file)
	return st, src, false, nil
}

// OpenTokens opens and verifies a token store written from a dataset, and
// decodes what it records about its source.
func OpenTokens(path string) (*tokens.Store, *TokenSource, error) {
	st, src, err := openVerified(path)
	if err != nil {
		return nil, nil, crucible.Wrap(err, crucible.EINVALID, "token file")
	}
	return st, src, nil
}

func openVerified(file string) (*tokens.Store, *TokenSource, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, nil, err
	}
	st, err := tokens.Open(file)
	if err != nil {
		return nil, nil, err
	}
	if err := st.Verify(); err != nil {
		st.Close()
		return nil, nil, err
	}
	var src TokenSource
	if err := json.Unmarshal(st.Meta().Source, &src); err != nil || !src.TaskType.Valid() {
		st.Close()
		return nil, nil, fmt.Errorf("%s: %w: its source does not name a task type (not written from a dataset?)", file, tokens.ErrFormat)
	}
	return st, &src, nil
}

func (c TokenCache) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, args...))
	}
}

// removeStale removes the temporary files of writers that were killed.
func (c TokenCache) removeStale() {
	tmps, _ := filepath.Glob(filepath.Join(c.Dir, tokens.TempPattern))
	pending, _ := filepath.Glob(filepath.Join(c.Dir, pendingPrefix+"*"))
	tmps = append(tmps, pending...)
	for _, t := range tmps {
		if st, err := os.Stat(t); err == nil && time.Since(st.ModTime()) > staleTemp {
			os.Remove(t)
		}
	}
}

// evict removes the least recently used stores past MaxBytes, keeping keep.
func (c TokenCache) evict(keep string) {
	if c.MaxBytes <= 0 {
		return
	}
	files, _ := filepath.Glob(filepath.Join(c.Dir, "*.tokens.safetensors"))
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var es []entry
	var total int64
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), pendingPrefix) {
			continue // another run's, being written
		}
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		es = append(es, entry{f, st.Size(), st.ModTime()})
		total += st.Size()
	}
	sort.Slice(es, func(i, j int) bool { return es[i].used.Before(es[j].used) })
	for _, e := range es {
		if total <= c.MaxBytes {
			break
		}
		if e.path == keep {
			continue
		}
		if os.Remove(e.path) == nil {
			total -= e.size
			c.logf("tokens: removed %s (least recently used; the cache is capped at %d MB)", e.path, c.MaxBytes>>20)
		}
	}
}

// DatasetSHA256 hashes a dataset: a file's bytes, or for a directory its
// data files' names and bytes in order. Cancelling ctx stops it.
func DatasetSHA256(ctx context.Context, path string) (string, error) {
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		fs, err := DataFiles(path)
		if err != nil {
			return "", err
		}
		files = fs
	}
	h := sha256.New()
	for _, f := range files {
		if len(files) > 1 {
			rel, _ := filepath.Rel(path, f)
			io.WriteString(h, rel+"\x00")
		}
		if err := hashFile(ctx, h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(ctx context.Context, w io.Writer, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		w.Write(buf[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// FilesSHA256 hashes the named files of a directory that exist (names and
// bytes, in the order given): for a tokenizer, its tokenizer.json,
// tokenizer_config.json and chat template files.
func FilesSHA256(dir string, names []string) (string, error) {
	h := sha256.New()
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		io.WriteString(h, strings.ReplaceAll(name, "\x00", "")+"\x00")
		if err := hashFile(context.Background(), h, p); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
