package chainnode_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/chainnode"
)

func TestConfig(t *testing.T) {
	c := chainnode.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Listen != "127.0.0.1:9944" || c.Tempo != 10 || c.BlockTime != time.Second || c.DB != "$CRUCIBLE_HOME/chain.json" {
		t.Errorf("defaults %+v", c)
	}
	if p := c.Params(); p.Tempo != 10 || p.WeightsRateLimit != 5 || p.MaxAllowedUIDs != 256 || p.ServingRateLimit != 0 {
		t.Errorf("params %+v", p)
	}
	for _, bad := range []func(*chainnode.Config){
		func(c *chainnode.Config) { c.Listen = "127.0.0.1:abc" },
		func(c *chainnode.Config) { c.BlockTime = -time.Second },
		func(c *chainnode.Config) { c.VersionKey = -1 },
		func(c *chainnode.Config) { c.Tempo = 0 },
	} {
		c := chainnode.DefaultConfig()
		bad(&c)
		if err := c.Validate(); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to write from the chain's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun serves a chain on a free port, reads its metagraph, and stops it
// with its context.
func TestRun(t *testing.T) {
	c := chainnode.DefaultConfig()
	c.Listen, c.DB, c.BlockTime = "127.0.0.1:0", filepath.Join(t.TempDir(), "chain.json"), 0
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- chainnode.Run(ctx, c, &out) }()
	re := regexp.MustCompile(`serving (http://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	var url string
	for url == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q", out.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	resp, err := http.Get(url + "/v1/metagraph")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"neurons"`) {
		t.Errorf("metagraph: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
