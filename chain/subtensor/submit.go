package subtensor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/chain/subtensor/metadata"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/crucible"
)

// Inclusion is where an extrinsic landed.
type Inclusion struct {
	BlockHash string
	Index     int // position in the block
}

// submit signs call as s, submits it and waits until it is in a block (or
// finalized with Options.Finalized), then reads its outcome from the
// block's events. A refusal by the transaction pool or by the call itself
// is returned as the chain package's named error where one exists.
func (c *Client) submit(ctx context.Context, rt *runtimeInfo, s Signer, call []byte, what string) (*Inclusion, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	from := address(s.PublicKey())
	var nonce uint64
	if err := c.call(ctx, &nonce, "system_accountNextIndex", from); err != nil {
		return nil, c.nodeErr(err, "read the nonce of "+from)
	}
	var fin string
	if err := c.call(ctx, &fin, "chain_getFinalizedHead"); err != nil {
		return nil, c.nodeErr(err, "read the finalized block")
	}
	var h header
	if err := c.call(ctx, &h, "chain_getHeader", fin); err != nil {
		return nil, c.nodeErr(err, "read block "+fin)
	}
	number, err := strconv.ParseUint(strings.TrimPrefix(h.Number, "0x"), 16, 64)
	if err != nil {
		return nil, crucible.Errorf(crucible.EINTERNAL, "subtensor: block number %q is not hex", h.Number)
	}
	era, birth := mortalEra(number, c.opts.EraPeriod)
	eraHash, err := decodeHash(fin)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: finalized head")
	}
	if birth != number {
		var bh string
		if err := c.call(ctx, &bh, "chain_getBlockHash", birth); err != nil {
			return nil, c.nodeErr(err, "read the era's first block")
		}
		if eraHash, err = decodeHash(bh); err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: era block")
		}
	}
	xt, err := signExtrinsic(rt.md, call, s, txParams{nonce: nonce, tip: c.opts.Tip, era: era, eraHash: eraHash,
		specVer: rt.specVersion, txVer: rt.txVersion, genesis: rt.genesis})
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: build %s", what)
	}
	xtHex := hexOf(xt)
	c.opts.Log.Info("subtensor submit", "call", what, "from", from, "nonce", nonce)
	blockHash, err := c.watch(ctx, xtHex, what)
	if err != nil {
		return nil, err
	}
	return c.outcome(ctx, rt, blockHash, xtHex, what)
}

// watch submits an extrinsic and returns the hash of the block that holds
// it: by subscription over WebSocket, by polling new blocks over HTTP.
func (c *Client) watch(ctx context.Context, xtHex, what string) (string, error) {
	sub, err := c.subscribe(ctx, "author_submitAndWatchExtrinsic", "author_unwatchExtrinsic", xtHex)
	if err != nil && strings.Contains(err.Error(), "need a WebSocket") {
		return c.submitAndPoll(ctx, xtHex, what)
	}
	if err != nil {
		return "", c.poolErr(err, what)
	}
	defer sub.Unsubscribe(context.WithoutCancel(ctx))
	for {
		n, err := sub.Next(ctx)
		if err != nil {
			return "", crucible.Wrap(err, crucible.EINTERNAL, "subtensor: waiting for %s", what).
				WithHint("the extrinsic may still land; check the account's nonce before resubmitting")
		}
		var status string
		if json.Unmarshal(n, &status) == nil {
			switch status {
			case "dropped", "invalid", "usurped":
				return "", crucible.Errorf(crucible.ECONFLICT, "subtensor: %s was %s by the transaction pool", what, status)
			}
			continue // future, ready
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(n, &obj) != nil {
			continue
		}
		key := "inBlock"
		if c.opts.Finalized {
			key = "finalized"
		}
		if raw, ok := obj[key]; ok {
			var hash string
			if err := json.Unmarshal(raw, &hash); err != nil {
				return "", crucible.Errorf(crucible.EINTERNAL, "subtensor: %s status %s", what, n)
			}
			return hash, nil
		}
		for _, bad := range []string{"dropped", "invalid", "usurped", "finalityTimeout"} {
			if _, ok := obj[bad]; ok {
				return "", crucible.Errorf(crucible.ECONFLICT, "subtensor: %s: %s", what, bad)
			}
		}
	}
}

// submitAndPoll submits over HTTP and looks for the extrinsic in each new
// block.
func (c *Client) submitAndPoll(ctx context.Context, xtHex, what string) (string, error) {
	_, start, err := c.head(ctx)
	if err != nil {
		return "", err
	}
	if err := c.call(ctx, nil, "author_submitExtrinsic", xtHex); err != nil {
		return "", c.poolErr(err, what)
	}
	next := start
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		_, best, err := c.head(ctx)
		if err != nil {
			return "", err
		}
		for ; next <= best; next++ {
			var hash string
			if err := c.call(ctx, &hash, "chain_getBlockHash", next); err != nil {
				return "", c.nodeErr(err, "read a block hash")
			}
			if _, err := c.extrinsicIndex(ctx, hash, xtHex); err == nil {
				return hash, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", crucible.Wrap(ctx.Err(), crucible.EINTERNAL, "subtensor: %s not seen in a block", what)
		case <-tick.C:
		}
	}
}

type signedBlock struct {
	Block struct {
		Extrinsics []string `json:"extrinsics"`
	} `json:"block"`
}

// extrinsicIndex returns the position of xtHex in block hash.
func (c *Client) extrinsicIndex(ctx context.Context, hash, xtHex string) (int, error) {
	var b signedBlock
	if err := c.call(ctx, &b, "chain_getBlock", hash); err != nil {
		return 0, c.nodeErr(err, "read block "+hash)
	}
	for i, x := range b.Block.Extrinsics {
		if strings.EqualFold(x, xtHex) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("not in block %s", hash)
}

// outcome reads the events of the extrinsic at blockHash: success, or the
// dispatch error it failed with.
func (c *Client) outcome(ctx context.Context, rt *runtimeInfo, blockHash, xtHex, what string) (*Inclusion, error) {
	idx, err := c.extrinsicIndex(ctx, blockHash, xtHex)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s reported in block %s", what, blockHash)
	}
	evs, err := c.queryStorage(ctx, rt, blockHash, []storageQuery{{"System", "Events", nil}})
	if err != nil {
		return nil, err
	}
	inc := &Inclusion{BlockHash: blockHash, Index: idx}
	ok, failure, err := extrinsicResult(rt.md, evs[0], idx)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: events of block %s", blockHash)
	}
	if failure != nil {
		return inc, failure
	}
	if !ok {
		return nil, crucible.Errorf(crucible.EINTERNAL, "subtensor: no ExtrinsicSuccess or ExtrinsicFailed event for %s in block %s", what, blockHash)
	}
	c.opts.Log.Info("subtensor included", "call", what, "block", blockHash, "index", idx)
	return inc, nil
}

// extrinsicResult finds the System.ExtrinsicSuccess or ExtrinsicFailed
// event of extrinsic idx among a block's events.
func extrinsicResult(md *metadata.Metadata, events any, idx int) (bool, error, error) {
	list, ok := events.([]any)
	if !ok {
		return false, nil, fmt.Errorf("System.Events is %T, not a list", events)
	}
	for _, rec := range list {
		phase, err := field(rec, "phase")
		if err != nil {
			return false, nil, err
		}
		ph, ok := phase.(*metadata.Enum)
		if !ok || ph.Name != "ApplyExtrinsic" {
			continue
		}
		if n, err := asUint(ph.Value); err != nil || n != uint64(idx) {
			continue
		}
		ev, err := field(rec, "event")
		if err != nil {
			return false, nil, err
		}
		outer, ok := ev.(*metadata.Enum)
		if !ok || outer.Name != "System" {
			continue
		}
		inner, ok := outer.Value.(*metadata.Enum)
		if !ok {
			continue
		}
		switch inner.Name {
		case "ExtrinsicSuccess":
			return true, nil, nil
		case "ExtrinsicFailed":
			de, err := field(inner.Value, "dispatch_error")
			if err != nil {
				return false, nil, err
			}
			return false, dispatchError(md, de), nil
		}
	}
	return false, nil, nil
}

// dispatchError turns a DispatchError into an error: a module error is
// named by its pallet's error enum and mapped onto the chain package's
// refusals by name.
func dispatchError(md *metadata.Metadata, v any) error {
	e, ok := v.(*metadata.Enum)
	if !ok {
		return crucible.Errorf(crucible.EINTERNAL, "subtensor: dispatch error %T", v)
	}
	if e.Name != "Module" {
		return named(e.Name, fmt.Sprintf("dispatch error %s %v", e.Name, e.Value))
	}
	pi, err1 := uintField(e.Value, "index")
	raw, err2 := field(e.Value, "error")
	b, _ := raw.([]byte)
	if err1 != nil || err2 != nil || len(b) == 0 {
		return crucible.Errorf(crucible.EINTERNAL, "subtensor: module error %v", e.Value)
	}
	p, ok := md.PalletByIndex(uint8(pi))
	if !ok || p.Errors == nil {
		return crucible.Errorf(crucible.EINTERNAL, "subtensor: error %d of unknown pallet %d", b[0], pi)
	}
	t, err := md.Types.Type(*p.Errors)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	vr, ok := t.VariantByIndex(b[0])
	if !ok {
		return crucible.Errorf(crucible.EINTERNAL, "subtensor: %s error %d is not in the metadata", p.Name, b[0])
	}
	return named(vr.Name, p.Name+"."+vr.Name+": "+strings.Join(vr.Docs, " "))
}

// known are the chain package's refusals by Subtensor's name.
var known = func() map[string]*chain.Error {
	m := map[string]*chain.Error{}
	for _, e := range []*chain.Error{chain.ErrWeightVecNotEqualSize, chain.ErrUidsLengthExceedUids, chain.ErrHotKeyNotRegistered,
		chain.ErrNotEnoughStakeToSetWeights, chain.ErrIncorrectWeightVersionKey, chain.ErrSettingWeightsTooFast,
		chain.ErrNeuronNoValidatorPermit, chain.ErrDuplicateUids, chain.ErrUidVecContainInvalidOne, chain.ErrWeightVecLengthIsLow,
		chain.ErrMaxWeightExceeded, chain.ErrHotKeyAlreadyRegistered, chain.ErrNoNeuronIDAvailable, chain.ErrInvalidIPAddress,
		chain.ErrInvalidPort, chain.ErrServingRateLimitExceeded, chain.ErrAmountTooLow, chain.ErrInvalidAddress} {
		m[e.Name] = e
	}
	return m
}()

// named returns the chain.Error called name, with a code guessed from the
// name for refusals the chain package does not list.
func named(name, message string) error {
	if e, ok := known[name]; ok {
		return &chain.Error{Name: e.Name, Code: e.Code, Message: message}
	}
	code := crucible.EINVALID
	switch {
	case strings.Contains(name, "TooFast"), strings.Contains(name, "RateLimit"), strings.Contains(name, "TooEarly"), strings.Contains(name, "AlreadyRegistered"):
		code = crucible.ECONFLICT
	case strings.Contains(name, "NotRegistered"), strings.Contains(name, "NotFound"), strings.Contains(name, "NotExist"), strings.Contains(name, "Expired"):
		code = crucible.ENOTFOUND
	case strings.Contains(name, "NotEnough"), strings.Contains(name, "Permit"), strings.Contains(name, "BadOrigin"), strings.Contains(name, "Balance"):
		code = crucible.EFORBIDDEN
	}
	return &chain.Error{Name: name, Code: code, Message: message}
}

// poolErrors are Subtensor's CustomTransactionError codes (transaction
// pool refusals, common/src/transaction_error.rs), by the chain package's
// name where one exists.
var poolErrors = map[int]string{
	1: "AmountTooLow", 2: "BalanceTooLow", 3: "SubnetNotExists", 4: "HotkeyAccountDoesntExist",
	5: "NotEnoughStakeToWithdraw", 6: "RateLimitExceeded", 7: "InsufficientLiquidity", 8: "SlippageTooHigh",
	9: "TransferDisallowed", 10: "HotKeyNotRegisteredInSubNet", 11: "InvalidIpAddress", 12: "ServingRateLimitExceeded",
	13: "InvalidPort", 14: "ZeroMaxAmount", 15: "InvalidRevealRound", 16: "CommitNotFound",
	17: "CommitBlockNotInRevealRange", 18: "InputLengthsUnequal", 19: "UidNotFound", 255: "BadRequest",
}

var customErr = regexp.MustCompile(`Custom error: (\d+)`)

// poolErr maps a refusal of author_submit* (code 1010, "Invalid
// Transaction", with Subtensor's custom code in its data) to a named error.
func (c *Client) poolErr(err error, what string) error {
	var re *rpc.Error
	if !errors.As(err, &re) {
		return c.nodeErr(err, "submit "+what)
	}
	data := string(re.Data)
	if m := customErr.FindStringSubmatch(data); m != nil {
		n, _ := strconv.Atoi(m[1])
		if name, ok := poolErrors[n]; ok {
			return fmt.Errorf("subtensor: %s refused by the transaction pool: %w", what, named(name, re.Error()))
		}
	}
	switch {
	case strings.Contains(data, "Inability to pay") || strings.Contains(re.Message, "Inability to pay"):
		return crucible.Wrap(err, crucible.EFORBIDDEN, "subtensor: %s", what).WithHint("the signing account has too little TAO for the fee")
	case strings.Contains(data, "outdated") || strings.Contains(data, "stale") || re.Code == 1014:
		return crucible.Wrap(err, crucible.ECONFLICT, "subtensor: %s", what).WithHint("another extrinsic of this account used the same nonce; retry")
	}
	return crucible.Wrap(err, crucible.EINVALID, "subtensor: %s refused by the transaction pool", what)
}
