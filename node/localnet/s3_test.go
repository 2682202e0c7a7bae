package localnet_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/delivery"
	"github.com/crucible-net/crucible/node/validatornode"
)

// TestS3BlobsEndToEnd runs a network whose validator keeps its blobs in S3
// (--blobs s3://bucket/prefix, the endpoint and credentials in the AWS
// environment variables): a customer uploads a dataset and creates a task,
// the miner downloads the train split and the base model through the
// validator's signed links, trains and uploads, the validator evaluates
// from S3, and the customer downloads the winner. Runs where CI's S3 server
// is configured (CRUCIBLE_TEST_S3_URL).
func TestS3BlobsEndToEnd(t *testing.T) {
	endpoint := os.Getenv("CRUCIBLE_TEST_S3_URL")
	if endpoint == "" {
		t.Skip("CRUCIBLE_TEST_S3_URL is not set (CI starts an S3 server: .ci/services.sh)")
	}
	ctx := context.Background()
	var b [4]byte
	rand.Read(b[:])
	bucket := os.Getenv("CRUCIBLE_TEST_S3_BUCKET") + "-net-" + hex.EncodeToString(b[:])
	admin, err := blob.NewS3(ctx, blob.S3Config{Endpoint: endpoint, AccessKey: os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY"), Bucket: bucket, CreateBucket: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		objs, _ := admin.List(ctx, "")
		for _, o := range objs {
			admin.Delete(ctx, o.Key)
		}
		admin.Client().RemoveBucket(ctx, bucket)
	})
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY"))

	net := startNet(t, []string{"lora-fast"}, func(c *validatornode.Config) { c.Blobs = "s3://" + bucket + "/validator-1" }, nil)
	c := api.NewClient(net.Validator.URL(), net.Validator.AdminKey())
	data, err := os.ReadFile(facts(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadDataset(ctx, "facts.jsonl", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateTask(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: up.Ref(), Hours: 10.0 / 3600})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Task.ID
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	status, err := c.Watch(wctx, id, 0, func(*crucible.TaskEvent) error { return nil })
	if err != nil || status != crucible.StatusSuccess {
		task, _ := c.Task(ctx, id)
		t.Fatalf("task ended %s (%v): %+v", status, err, task)
	}

	// Everything the task stored is in the bucket, under the prefix.
	objs, err := admin.List(ctx, "validator-1/tasks/"+id+"/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, "validator-1/tasks/"+id+"/"))
	}
	joined := strings.Join(keys, " ")
	for _, want := range []string{"train.jsonl", "test.jsonl", "results/" + net.Miners[0].Key().Address() + ".tar"} {
		if !strings.Contains(joined, want) {
			t.Errorf("bucket lacks %s; has %v", want, keys)
		}
	}

	// The customer downloads the winner, streamed from S3.
	var tarball bytes.Buffer
	if _, err := c.Download(ctx, id, "tar", &tarball); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(&tarball)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	// The delivery is one top-level folder named for the task, with its
	// model card.
	dir := delivery.Folder(id, false) + "/"
	if !names[dir+"adapter_config.json"] && !names[dir+"config.json"] {
		t.Errorf("the winner's archive holds neither a model nor an adapter in %s: %v", dir, names)
	}
	if !names[dir+"README.md"] {
		t.Errorf("the winner's archive has no model card %sREADME.md: %v", dir, names)
	}
}
