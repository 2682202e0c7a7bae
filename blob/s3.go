package blob

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is the server's URL, e.g. https://s3.us-west-004.backblazeb2.com
	// or http://127.0.0.1:7070. The scheme picks TLS.
	Endpoint     string
	AccessKey    string
	SecretKey    string
	SessionToken string // for temporary credentials; usually empty
	Bucket       string
	// Prefix, when set, is put before every key ("crucible/validator-1"
	// keeps the store's objects under crucible/validator-1/), so that
	// several stores can share a bucket.
	Prefix string
	// Region defaults to us-east-1.
	Region string
	// CreateBucket creates the bucket when it does not exist.
	CreateBucket bool
	// TempDir is where Put spools an object to learn its size and hash
	// before uploading. Defaults to os.TempDir().
	TempDir string
}

// S3 stores objects in a bucket of an S3-compatible server, under an
// optional prefix. Put records each object's SHA-256 in its
// x-amz-meta-sha256 metadata. Download links are the node's own (Signer and
// Handler), so miners never need credentials for the bucket.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // "" or "dir/" with a trailing slash
	temp   string
}

var _ Store = (*S3)(nil)

// metaSHA256 is the user metadata key (x-amz-meta-sha256) holding the hash.
const metaSHA256 = "Sha256"

// NewS3 connects to the server and checks (or creates) the bucket.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "s3 endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "s3 store needs a bucket")
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, crucible.Errorf(crucible.EINVALID, "s3 prefix %q: %v", cfg.Prefix, crucible.ErrorMessage(err))
		}
		prefix += "/"
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "s3 bucket %s at %s", cfg.Bucket, cfg.Endpoint).
			WithHint("check AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, crucible.Errorf(crucible.ENOTFOUND, "s3 bucket %s does not exist at %s", cfg.Bucket, cfg.Endpoint).
				WithHint("create the bucket first")
		}
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: region}); err != nil {
			return nil, fmt.Errorf("create s3 bucket %s: %w", cfg.Bucket, err)
		}
	}
	temp := cfg.TempDir
	if temp == "" {
		temp = os.TempDir()
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix, temp: temp}, nil
}

// Client returns the underlying minio client, e.g. to remove a test bucket.
func (s *S3) Client() *minio.Client { return s.client }

// s3Err maps "no such key" to ENOTFOUND and wraps everything else.
func s3Err(err error, op, key string) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return crucible.Errorf(crucible.ENOTFOUND, "blob %q not found", key)
	}
	return fmt.Errorf("%s blob %s: %w", op, key, err)
}

// Put spools r to a temporary file (hashing it), then uploads it with its
// size and hash; S3 makes the new version visible at once and whole.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	f, err := os.CreateTemp(s.temp, "crucible-s3-put-*")
	if err != nil {
		return Info{}, fmt.Errorf("put %s: spool: %w", key, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	sum := fmt.Sprintf("%x", h.Sum(nil))
	up, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, f, size, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"sha256": sum},
	})
	if err != nil {
		return Info{}, s3Err(err, "put", key)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return Info{Key: key, Size: size, SHA256: sum, ModTime: mod.UTC()}, nil
}

// Get opens the object; the returned reader is seekable.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err(err, "get", key)
	}
	if _, err := obj.Stat(); err != nil { // GetObject is lazy; surface "not found" now
		obj.Close()
		return nil, s3Err(err, "get", key)
	}
	return obj, nil
}

// Stat returns the object's size, SHA-256 and modification time. For an
// object not written by Put (no sha256 metadata) the content is read and hashed.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Err(err, "stat", key)
	}
	info := Info{Key: key, Size: oi.Size, SHA256: oi.UserMetadata[metaSHA256], ModTime: oi.LastModified.UTC()}
	if info.SHA256 == "" {
		rc, err := s.Get(ctx, key)
		if err != nil {
			return Info{}, err
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, ctxReader{ctx, rc}); err != nil {
			return Info{}, s3Err(err, "stat", key)
		}
		info.SHA256 = fmt.Sprintf("%x", h.Sum(nil))
	}
	return info, nil
}

// Delete removes the object; a missing one is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && crucible.ErrorCode(s3Err(err, "delete", key)) != crucible.ENOTFOUND {
		return s3Err(err, "delete", key)
	}
	return nil
}

// List returns the objects whose keys start with prefix, in key order.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("list blobs %q: %w", prefix, oi.Err)
		}
		out = append(out, Info{Key: strings.TrimPrefix(oi.Key, s.prefix), Size: oi.Size, ModTime: oi.LastModified.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
