package chain

import (
	"context"

	"github.com/crucible-net/crucible/crucible"
)

// Fee is a fee charged on the local chain: taken from a hotkey's stake and
// burned (a tournament's entry fee, say). Memo names what it paid for;
// charging the same hotkey twice for one memo charges once.
type Fee struct {
	Hotkey   string `json:"hotkey"`
	Rao      int64  `json:"rao"`
	Memo     string `json:"memo"`
	Block    int64  `json:"block"`
	Refunded bool   `json:"refunded,omitempty"`
}

// ChargeFee burns amount TAO of hotkey's stake for memo and returns the
// block it was recorded at (the earlier block when memo was charged
// already). Returns ErrHotKeyNotRegistered, EINVALID (ErrNotEnoughStake)
// when the stake does not cover it.
func (l *Local) ChargeFee(_ context.Context, hotkey string, amount float64, memo string) (int64, error) {
	rao := int64(amount * RaoPerTAO)
	if !(amount > 0) || rao < 1 || amount > 1e9 {
		return 0, ErrAmountTooLow.with("fee %v TAO: must be between 1 rao and 1e9 TAO", amount)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uidOf(hotkey) < 0 {
		return 0, ErrHotKeyNotRegistered.with("hotkey %s", hotkey)
	}
	for _, f := range l.st.Fees {
		if f.Hotkey == hotkey && f.Memo == memo && !f.Refunded {
			return f.Block, nil
		}
	}
	if have := l.st.Stakes[hotkey]; have < rao {
		return 0, crucible.Errorf(crucible.EINVALID, "a fee of %g TAO is more than %s's stake of %g TAO", amount, hotkey, float64(have)/RaoPerTAO).
			WithHint("stake to the hotkey first (crucible chain stake)")
	}
	l.st.Stakes[hotkey] -= rao
	l.st.Fees = append(l.st.Fees, Fee{Hotkey: hotkey, Rao: rao, Memo: memo, Block: l.st.Block})
	if err := l.save(); err != nil {
		return 0, err
	}
	return l.st.Block, nil
}

// RefundFee returns a fee charged for memo to hotkey's stake (a no-op when
// there is none).
func (l *Local) RefundFee(_ context.Context, hotkey, memo string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.st.Fees {
		if f.Hotkey == hotkey && f.Memo == memo && !f.Refunded {
			l.st.Fees[i].Refunded = true
			l.st.Stakes[hotkey] += f.Rao
			return l.save()
		}
	}
	return nil
}

// Fees returns the fees charged so far, oldest first.
func (l *Local) Fees() []Fee {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Fee(nil), l.st.Fees...)
}
