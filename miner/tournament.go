package miner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Identity signs a miner's tournament entries: its hotkey.
type Identity interface {
	Address() string
	Sign(msg []byte) ([]byte, error)
}

// MethodStrategy is a strategy that names its training method (its
// version included), the identity a tournament knows it by.
type MethodStrategy interface {
	Method() crucible.Method
}

// SetIdentity gives the miner the key it signs tournament entries with;
// without one it enters no tournament.
func (m *Miner) SetIdentity(id Identity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.identity = id
}

// Method is the method the miner enters tournaments with: its strategy's
// own (MethodStrategy), else the strategy's name, with the image digest
// and commit the configuration declares.
func (m *Miner) Method() crucible.Method {
	method := crucible.Method{Strategy: m.strategy.Name()}
	if ms, ok := m.strategy.(MethodStrategy); ok {
		method = ms.Method()
	}
	if m.cfg.MethodImage != "" {
		method.Image = m.cfg.MethodImage
	}
	if m.cfg.MethodCommit != "" {
		method.Commit = m.cfg.MethodCommit
	}
	return method
}

// entryState is what the miner knows of one tournament it was told of.
type entryState struct {
	receipt *api.EntryReceipt
	err     error
}

// Announce answers a tournament announcement from the validator with
// hotkey from: the miner enters when tournaments are not turned off, it
// has a key to sign with, the fee is within MaxFee and its method is
// well-formed. The entry itself goes to the announcement's EntryURL in
// the background, so that the validator's request returns at once.
func (m *Miner) Announce(ctx context.Context, from string, a api.TournamentAnnouncement) (api.AnnounceResponse, error) {
	no := func(format string, args ...any) (api.AnnounceResponse, error) {
		return api.AnnounceResponse{Message: fmt.Sprintf(format, args...)}, nil
	}
	if err := crucible.CheckID("tournament_id", a.TournamentID); err != nil {
		return api.AnnounceResponse{}, err
	}
	if !strings.Contains(a.EntryURL, api.PathTournamentEntries+a.TournamentID+api.TournamentEntriesSuffix) {
		return api.AnnounceResponse{}, crucible.Errorf(crucible.EINVALID, "announcement: entry_url %q is not this tournament's entry endpoint", a.EntryURL)
	}
	if m.checkURL != nil {
		// The entry goes where the announcement says: the fetch policy
		// holds it as it holds start_training's URLs.
		if err := m.checkURL(ctx, from, a.EntryURL); err != nil {
			return api.AnnounceResponse{}, err
		}
	}
	method := m.Method()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.cfg.NoTournaments:
		return no("this miner does not enter tournaments")
	case m.identity == nil:
		return no("this miner has no key to sign an entry with")
	case a.Fee > m.cfg.MaxFee:
		return no("the entry fee %g TAO is above this miner's --max-fee %g", a.Fee, m.cfg.MaxFee)
	case !a.EntriesClose.After(m.now()):
		return no("entries closed at %s", a.EntriesClose.Format(time.RFC3339))
	}
	if err := method.Validate(); err != nil {
		return no("cannot enter: %v", err)
	}
	key := from + "/" + a.TournamentID
	if st, ok := m.entries[key]; ok && (st.receipt != nil || st.err == nil) {
		return no("entered already")
	}
	m.entries[key] = &entryState{}
	go m.enter(from, a, method, m.identity)
	return api.AnnounceResponse{Entering: true, Message: "entering with " + method.String()}, nil
}

// enter signs and sends an entry, retrying a failed send a few times
// while entries are open; a refusal is final.
func (m *Miner) enter(from string, a api.TournamentAnnouncement, method crucible.Method, id Identity) {
	signedAt := m.now().UTC()
	hash := method.Hash()
	sig, err := id.Sign(crucible.EntryMessage(a.TournamentID, id.Address(), hash, a.Fee, signedAt))
	req := api.EnterRequest{Method: method, MethodHash: hash, Fee: a.Fee, SignedAt: signedAt, Signature: hex.EncodeToString(sig)}
	var receipt *api.EntryReceipt
	for attempt := 0; err == nil && attempt < 4; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		receipt, err = m.validators(from).Enter(ctx, a.EntryURL, req)
		cancel()
		if err == nil || crucible.ErrorCode(err) != crucible.EINTERNAL || !m.now().Add(2*time.Second).Before(a.EntriesClose) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * time.Second)
	}
	if err != nil {
		m.log.Warn("tournament entry refused", "tournament", a.TournamentID, "validator", from, "err", err)
	} else {
		m.log.Info("entered tournament", "tournament", a.TournamentID, "method", method.String(), "fee_block", receipt.FeeBlock)
	}
	m.mu.Lock()
	m.entries[from+"/"+a.TournamentID] = &entryState{receipt: receipt, err: err}
	m.mu.Unlock()
}

// Entries reports the tournaments the miner entered (or tried to), by
// validator and tournament: the receipt, or why the entry failed.
func (m *Miner) Entries() map[string]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]error{}
	for k, st := range m.entries {
		if st.receipt != nil || st.err != nil {
			out[k] = st.err
		}
	}
	return out
}

// Method names the command strategy's method: "command" with the SHA-256
// of the trainer program's file as its version (its arguments are part of
// the method too), so that a changed trainer is a new method.
func (c *CommandStrategy) Method() crucible.Method {
	h := sha256.New()
	if len(c.Argv) > 0 {
		if path, err := exec.LookPath(c.Argv[0]); err == nil {
			if f, err := os.Open(path); err == nil {
				io.Copy(h, f)
				f.Close()
			}
		}
	}
	for _, a := range c.Argv[min(1, len(c.Argv)):] {
		fmt.Fprintf(h, "\x00%s", a)
	}
	return crucible.Method{Strategy: "command", Version: "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]}
}
