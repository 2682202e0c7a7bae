package validator

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Fees charges tournament entry fees on the chain: on crucible's local
// chain, from the miner's stake, with the tournament as the memo (charging
// the same memo twice charges once).
type Fees interface {
	// ChargeFee takes amount TAO from hotkey and returns the block it was
	// recorded at. Returns EINVALID when the hotkey cannot pay.
	ChargeFee(ctx context.Context, hotkey string, amount float64, memo string) (block int64, err error)
	// RefundFee gives back a fee charged with memo (a no-op when none was).
	RefundFee(ctx context.Context, hotkey, memo string) error
}

// SignatureCheck verifies a signature by an SS58 address over msg.
type SignatureCheck func(address string, msg, sig []byte) error

// entrySkew is how far a signed entry's time may be from the validator's
// clock.
const entrySkew = 10 * time.Minute

// announce tells every miner about a tournament in its entry window, once
// (a restart may tell them again; an entry is accepted once).
func (v *Validator) announce(ctx context.Context, t *crucible.Tournament) error {
	evs, err := v.Store.FindTournamentEvents(ctx, t.ID, 0, 0)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Kind == "announce" {
			return nil
		}
	}
	nodes, err := v.Store.FindNodes(ctx)
	if err != nil {
		return err
	}
	a := api.TournamentAnnouncement{TournamentID: t.ID, EntriesClose: t.EntriesClose, Fee: t.Settings.Fee, Hours: t.Settings.Hours,
		EntryURL: v.cfg.PublicURL + api.PathTournamentEntries + t.ID + api.TournamentEntriesSuffix}
	seen := map[crucible.TaskType]bool{}
	for _, p := range t.Settings.Pool {
		if !seen[p.Type] {
			seen[p.Type] = true
			a.Types = append(a.Types, p.Type)
		}
	}
	if c, err := v.Champion(ctx); err == nil {
		a.Defender = c.Hotkey // it defends in the boss round: it is not told to enter
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	told, entering := 0, 0
	for _, n := range nodes {
		if n.Validator || n.IP == "" || n.Port == 0 || n.Hotkey == a.Defender {
			continue
		}
		told++
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, v.cfg.OfferTimeout)
			defer cancel()
			resp, err := v.Miners(n).Announce(cctx, a)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && resp.Entering {
				entering++
			}
		}()
	}
	wg.Wait()
	v.tevent(ctx, t.ID, "announce", fmt.Sprintf("announced to %d miner(s), %d say they enter; entries close at %s",
		told, entering, t.EntriesClose.UTC().Format(time.RFC3339)), map[string]any{"told": told, "entering": entering})
	return nil
}

// Enter accepts a miner's tournament entry (protocol.ValidatorServer):
// from is the verified signer of the request. The entry must be the
// caller's own, signed by it over the tournament, its method's hash, the
// fee and the time; the tournament must be taking entries; the caller must
// be a registered miner, neither the champion (it defends in the boss
// round) nor entering the champion's method or a method another entrant
// entered, and not have entered already. Only then is the fee charged and
// the entry stored: a refusal changes nothing.
func (v *Validator) Enter(ctx context.Context, from, id string, req api.EnterRequest) (*api.EntryReceipt, error) {
	if from == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "a tournament entry must be signed by the miner's hotkey")
	}
	if err := crucible.CheckID("tournament", id); err != nil {
		return nil, err
	}
	t, err := v.Store.FindTournament(ctx, id)
	if err != nil {
		return nil, err
	}
	now := v.Now()
	if t.Status != crucible.TournamentEntries || !now.Before(t.EntriesClose) {
		return nil, crucible.Errorf(crucible.ECONFLICT, "tournament %s does not take entries (it is %s; entries closed at %s)",
			id, t.Status, t.EntriesClose.UTC().Format(time.RFC3339))
	}
	if err := req.Method.Validate(); err != nil {
		return nil, err
	}
	hash := req.Method.Hash()
	switch {
	case req.MethodHash != hash:
		return nil, crucible.Errorf(crucible.EINVALID, "method_hash %q is not the hash of the method (%s)", req.MethodHash, hash)
	case req.Fee != t.Settings.Fee:
		return nil, crucible.Errorf(crucible.EINVALID, "the entry fee of tournament %s is %g TAO, not %g", id, t.Settings.Fee, req.Fee)
	case req.SignedAt.Before(now.Add(-entrySkew)) || req.SignedAt.After(now.Add(entrySkew)):
		return nil, crucible.Errorf(crucible.EINVALID, "the entry was signed at %s, more than %s from now", req.SignedAt.UTC().Format(time.RFC3339), entrySkew)
	}
	sig, err := hex.DecodeString(req.Signature)
	if err != nil || len(sig) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "signature is not hex")
	}
	if v.Verify == nil {
		return nil, crucible.Errorf(crucible.EINTERNAL, "validator: no signature check for tournament entries")
	}
	if err := v.Verify(from, crucible.EntryMessage(id, from, hash, req.Fee, req.SignedAt), sig); err != nil {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "the entry's signature is not %s's: %v", from, err)
	}
	n, err := v.Store.FindNode(ctx, from)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND || (err == nil && n.Validator) {
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "%s is not a registered miner; only miners enter tournaments", from)
	}
	if err != nil {
		return nil, err
	}
	switch c, err := v.Champion(ctx); {
	case err == nil && c.Hotkey == from:
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "%s is the champion: it defends its title in the boss round and does not enter", from)
	case err == nil && c.MethodHash == hash:
		return nil, crucible.Errorf(crucible.ECONFLICT, "method %s is the champion's", req.Method).
			WithHint("enter a method of your own; the champion's is trained for customers already")
	case err != nil && crucible.ErrorCode(err) != crucible.ENOTFOUND:
		return nil, err
	}
	entries, err := v.Store.FindEntries(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		switch {
		case e.Hotkey == from:
			return nil, crucible.Errorf(crucible.ECONFLICT, "%s has entered tournament %s already", from, id)
		case e.MethodHash == hash:
			return nil, crucible.Errorf(crucible.ECONFLICT, "method %s is %s's entry in tournament %s", req.Method, e.Hotkey, id).
				WithHint("enter a method of your own: two miners may not enter the same one")
		}
	}
	e := &crucible.TournamentEntry{TournamentID: id, Hotkey: from, Method: req.Method, MethodHash: hash, Fee: req.Fee,
		SignedAt: req.SignedAt, Signature: req.Signature}
	memo := "tournament " + id
	if req.Fee > 0 {
		if v.Fees == nil {
			return nil, crucible.Errorf(crucible.EINTERNAL, "tournament %s has a fee but this validator charges none", id)
		}
		if e.FeeBlock, err = v.Fees.ChargeFee(ctx, from, req.Fee, memo); err != nil {
			return nil, err
		}
	}
	if err := v.Store.AddEntry(ctx, e); err != nil {
		if req.Fee > 0 {
			if rerr := v.Fees.RefundFee(ctx, from, memo); rerr != nil {
				v.Log.Error("refund a refused entry's fee", "tournament", id, "hotkey", from, "err", rerr)
			}
		}
		return nil, err
	}
	msg := fmt.Sprintf("%s entered with %s", from, req.Method)
	if req.Fee > 0 {
		msg += fmt.Sprintf(", fee %g TAO charged at block %d", req.Fee, e.FeeBlock)
	}
	v.tevent(ctx, id, "entry", msg, map[string]any{"hotkey": from, "method": req.Method.String(), "method_hash": hash})
	return &api.EntryReceipt{TournamentID: id, Hotkey: from, MethodHash: hash, FeeBlock: e.FeeBlock, EntriesClose: t.EntriesClose}, nil
}
