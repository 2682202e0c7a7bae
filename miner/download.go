package miner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
)

// downloadTries is how many times a broken download is resumed before the
// job fails.
const downloadTries = 6

// retryWait is the pause before resuming a broken download; tests shorten
// it.
var retryWait = func(try int) time.Duration { return time.Duration(try) * time.Second }

// downloadFile copies a link to path, resuming from the bytes it has when
// the transfer breaks (up to downloadTries times), and checks the result:
// exactly size bytes (when size > 0; more is refused as soon as it
// arrives) whose SHA-256 is sum (when sum is set). A file that fails the
// check is removed.
func downloadFile(ctx context.Context, v protocol.Validator, link, path string, size int64, sum string, log *slog.Logger) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	var got int64
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(path)
		}
	}()
	for try := 1; ; try++ {
		n, err := fetchFrom(ctx, v, link, got, size, f, h)
		got += n
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		code := crucible.ErrorCode(err)
		if try >= downloadTries || code == crucible.EUNAUTHORIZED || code == crucible.EFORBIDDEN || code == crucible.ENOTFOUND || code == crucible.EINVALID {
			return fmt.Errorf("after %d bytes: %w", got, err)
		}
		if log != nil {
			log.Warn("download broke; resuming", "bytes", got, "try", try, "err", err)
		}
		select {
		case <-time.After(retryWait(try)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if size > 0 && got != size {
		return crucible.Errorf(crucible.EINVALID, "got %d bytes, the validator announced %d", got, size)
	}
	if sum != "" {
		if have := hex.EncodeToString(h.Sum(nil)); have != sum {
			return crucible.Errorf(crucible.EINVALID, "sha256 %s, the validator announced %s: the download is corrupt", have, sum)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	ok = true
	return f.Close()
}

// errTooLong marks content longer than announced.
var errTooLong = errors.New("more bytes than the validator announced")

// fetchFrom appends the link's content from offset to f (and h), returning
// the bytes written.
func fetchFrom(ctx context.Context, v protocol.Validator, link string, offset, size int64, f io.Writer, h hash.Hash) (int64, error) {
	if size > 0 && offset == size {
		return 0, nil // complete; a request for nothing would be refused
	}
	rc, err := v.Download(ctx, link, offset)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if size > 0 {
		r = io.LimitReader(rc, size-offset+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil && size > 0 && offset+n > size {
		return n, crucible.Wrap(errTooLong, crucible.EINVALID, "download")
	}
	return n, err
}
