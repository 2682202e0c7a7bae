package sign

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/crucible-net/crucible/crucible"
)

// spooledBody is a request body read in full before the handler runs: in
// memory when small, in a temporary file when large.
type spooledBody struct {
	io.Reader
	size int64
	file *os.File // nil when in memory
}

// Close removes the temporary file, if any.
func (b *spooledBody) Close() error {
	if b.file == nil {
		return nil
	}
	name := b.file.Name()
	err := b.file.Close()
	if rerr := os.Remove(name); rerr != nil && err == nil {
		err = rerr
	}
	b.file = nil
	return err
}

// spoolBody reads r's body (at most max bytes), hashing it as it goes.
func spoolBody(r *http.Request, max, memory int64) (*spooledBody, [32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	if r.Body == nil || r.Body == http.NoBody {
		copy(sum[:], h.Sum(nil))
		return &spooledBody{Reader: bytes.NewReader(nil)}, sum, nil
	}
	defer r.Body.Close()
	src := io.TeeReader(io.LimitReader(r.Body, max+1), h)
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(src, memory+1))
	if err != nil {
		return nil, sum, crucible.Wrap(err, crucible.EINVALID, "read request body")
	}
	if n > max {
		return nil, sum, tooLarge(max)
	}
	if n <= memory {
		copy(sum[:], h.Sum(nil))
		return &spooledBody{Reader: bytes.NewReader(buf.Bytes()), size: n}, sum, nil
	}
	f, err := os.CreateTemp("", "crucible-body-*")
	if err != nil {
		return nil, sum, crucible.Wrap(err, crucible.EINTERNAL, "spool request body")
	}
	body := &spooledBody{file: f}
	fail := func(err error) (*spooledBody, [32]byte, error) {
		body.Close()
		return nil, sum, err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fail(crucible.Wrap(err, crucible.EINTERNAL, "spool request body"))
	}
	rest, err := io.Copy(f, src)
	if err != nil {
		var werr *os.PathError
		if errors.As(err, &werr) {
			return fail(crucible.Wrap(err, crucible.EINTERNAL, "spool request body"))
		}
		return fail(crucible.Wrap(err, crucible.EINVALID, "read request body"))
	}
	body.size = n + rest
	if body.size > max {
		return fail(tooLarge(max))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(crucible.Wrap(err, crucible.EINTERNAL, "spool request body"))
	}
	body.Reader = f
	copy(sum[:], h.Sum(nil))
	return body, sum, nil
}

// tooLarge refuses a body over the limit (HTTP 413).
func tooLarge(max int64) error {
	return crucible.Errorf(crucible.ETOOLARGE, "request body is larger than %d bytes", max)
}
