package blob

import (
	"context"
	"os"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Open opens the store a node's configuration names: s3://bucket/prefix
// for an S3-compatible store, anything else a local directory (created
// when missing). For S3 the endpoint and credentials come from the usual
// AWS environment variables, read with getenv (os.Getenv when nil):
//
//	AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL   the server, e.g. http://127.0.0.1:7070 (default: AWS, https://s3.REGION.amazonaws.com)
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  the credentials (required)
//	AWS_SESSION_TOKEN                         for temporary credentials
//	AWS_REGION or AWS_DEFAULT_REGION          the region (default us-east-1)
//
// The bucket must exist. Returns EINVALID for a spec or settings that do not
// parse, ENOTFOUND for a missing bucket.
func Open(ctx context.Context, spec string, getenv func(string) string) (Store, error) {
	rest, ok := strings.CutPrefix(spec, "s3://")
	if !ok {
		if strings.Contains(spec, "://") {
			return nil, crucible.Errorf(crucible.EINVALID, "blob store %q: want a directory or s3://bucket/prefix", spec)
		}
		return NewLocal(LocalConfig{Dir: spec})
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "blob store %q: no bucket", spec).
			WithHint("write s3://BUCKET or s3://BUCKET/PREFIX")
	}
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	region := first("AWS_REGION", "AWS_DEFAULT_REGION")
	endpoint := first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	if endpoint == "" {
		r := region
		if r == "" {
			r = "us-east-1"
		}
		endpoint = "https://s3." + r + ".amazonaws.com"
	}
	cfg := S3Config{Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Region: region,
		AccessKey: getenv("AWS_ACCESS_KEY_ID"), SecretKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "blob store %s: no S3 credentials", spec).
			WithHint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other than AWS)")
	}
	return NewS3(ctx, cfg)
}
