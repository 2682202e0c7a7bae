package localnet_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/sign"
)

// TestSignedNodeEndpoints checks the miner's and the validator's node APIs
// against callers a real network must refuse.
func TestSignedNodeEndpoints(t *testing.T) {
	ctx := context.Background()
	stranger, _ := sign.FromURI("//node-test//stranger")
	// The miner answers only validators with at least 100 TAO staked; the
	// network's validator has 1000.
	net := startNet(t, []string{"lora-fast"}, nil, func(c *minernode.Config) { c.MinStake = 100 })
	vkey, mkey, ch := net.Validator.Key(), net.Miners[0].Key(), net.Chain
	mn := net.Miners[0]

	offer := []byte(`{"task_id":"t","task_type":"instruct","model":"m","model_params_count":1,"ds_size":1,"hours_to_complete":1}`)
	minerURL := "http://" + mn.Addr() + api.PathTaskOffer
	send := func(req *http.Request) int {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	newReq := func(url string, body []byte) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		return req
	}
	signed := func(k *sign.Keypair, target, url string, body []byte) *http.Request {
		req := newReq(url, body)
		if err := sign.SignRequest(req, k, target, time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}

	// The registered, staked validator gets an answer.
	if got := send(signed(vkey, mkey.Address(), minerURL, offer)); got != http.StatusOK {
		t.Errorf("validator's offer: %d", got)
	}
	// Unsigned: 401.
	if got := send(newReq(minerURL, offer)); got != http.StatusUnauthorized {
		t.Errorf("unsigned offer: %d", got)
	}
	// Tampered body: 401.
	req := signed(vkey, mkey.Address(), minerURL, offer)
	req.Body, req.ContentLength = http.NoBody, 0
	tampered := newReq(minerURL, bytes.Replace(offer, []byte(`"t"`), []byte(`"u"`), 1))
	tampered.Header = req.Header
	if got := send(tampered); got != http.StatusUnauthorized {
		t.Errorf("tampered offer: %d", got)
	}
	// Replayed nonce: 401.
	first := signed(vkey, mkey.Address(), minerURL, offer)
	replay := newReq(minerURL, offer)
	replay.Header = first.Header.Clone()
	send(first)
	if got := send(replay); got != http.StatusUnauthorized {
		t.Errorf("replayed offer: %d", got)
	}
	// Signed by a key the chain does not know: 403.
	if got := send(signed(stranger, mkey.Address(), minerURL, offer)); got != http.StatusForbidden {
		t.Errorf("unregistered caller: %d", got)
	}
	// Registered but without the stake the miner asks of validators: 403.
	if _, err := ch.Register(ctx, stranger.Address(), stranger.Address()); err != nil {
		t.Fatal(err)
	}
	if got := send(signed(stranger, mkey.Address(), minerURL, offer)); got != http.StatusForbidden {
		t.Errorf("low-stake caller: %d", got)
	}
	// The validator's upload endpoint: unregistered callers are refused, and a
	// registered miner with no part in the task is refused too.
	uploadURL := net.Validator.URL() + api.PathUpload + "task/name"
	put := func(k *sign.Keypair) int {
		req, _ := http.NewRequest(http.MethodPut, uploadURL, strings.NewReader("x"))
		sign.SignRequest(req, k, vkey.Address(), time.Now())
		return send(req)
	}
	if err := net.Validator.SyncMetagraph(ctx); err != nil {
		t.Fatal(err)
	}
	if got := put(stranger); got != http.StatusNotFound && got != http.StatusForbidden {
		t.Errorf("upload by a node with no task: %d", got)
	}
	unknown, _ := sign.FromURI("//node-test//nobody")
	if got := put(unknown); got != http.StatusForbidden {
		t.Errorf("upload by an unregistered key: %d", got)
	}
}
