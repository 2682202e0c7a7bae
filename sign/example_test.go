package sign_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

// A miner guards its endpoints with Verify; a validator calls them through a
// signing client.
func Example() {
	miner, _ := sign.FromURI("//Charlie")
	validator, _ := sign.FromURI("//Alice")

	// The miner admits callers the metagraph knows with enough stake.
	lookup := func(_ context.Context, hotkey string) (*crucible.Node, error) {
		if hotkey == validator.Address() {
			return &crucible.Node{Hotkey: hotkey, Stake: 5000}, nil
		}
		return nil, crucible.Errorf(crucible.ENOTFOUND, "unknown hotkey")
	}
	offer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := sign.Caller(r.Context())
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "offer %s from %s", body, caller[:8])
	})
	srv := httptest.NewServer(sign.Verify(offer, sign.Options{
		Hotkey:    miner.Address(),
		Authorize: sign.MinStake(lookup, 1000),
	}))
	defer srv.Close()

	client := sign.NewClient(validator, miner.Address())
	resp, err := client.Post(srv.URL+"/task_offer", "application/json", strings.NewReader(`{"task":1}`))
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(b))

	// Anyone else is turned away.
	stranger, _ := sign.FromURI("//Eve")
	resp, _ = sign.NewClient(stranger, miner.Address()).Get(srv.URL + "/task_offer")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	// Output:
	// 200 offer {"task":1} from 5GrwvaEF
	// 403 {"code":"forbidden","message":"hotkey 5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw is not registered"}
}
