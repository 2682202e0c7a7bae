package chain_test

import (
	"context"
	"sync"
	"testing"

	"github.com/crucible-net/crucible/chain"
)

// memState is a StateStore in memory, standing in for the validator's database.
type memState struct {
	mu sync.Mutex
	b  []byte
}

func (m *memState) LoadChainState(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.b, nil
}

func (m *memState) SaveChainState(_ context.Context, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = append([]byte(nil), b...)
	return nil
}

func TestLocalChainStateInStore(t *testing.T) {
	ctx := context.Background()
	st := &memState{}
	p := chain.DefaultHyperparams()
	open := func() *chain.Local {
		l, err := chain.OpenLocal(chain.LocalOptions{Store: st, Params: p})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	if _, err := l.Register(ctx, "val", "cold"); err != nil {
		t.Fatal(err)
	}
	if err := l.AddStake(ctx, "val", 10); err != nil {
		t.Fatal(err)
	}
	if err := l.Advance(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Reopened on the same store, the chain is where it was.
	again := open()
	mg, err := again.Metagraph(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(mg.Neurons) != 1 || mg.Neurons[0].Hotkey != "val" || mg.Block != 3 || mg.Neurons[0].Stake < 10 {
		t.Errorf("after reopen: block %d, neurons %+v", mg.Block, mg.Neurons)
	}
	st.b = []byte("{broken")
	if _, err := chain.OpenLocal(chain.LocalOptions{Store: st, Params: p}); err == nil {
		t.Error("broken state accepted")
	}
}
