package validator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// candidates returns the miners a task may be offered to, in a fair,
// reproducible order: a weighted shuffle seeded by the validator's seed, the
// task and the attempt, where miners that have not competed recently or
// scored well get proportionally better odds of being asked first.
func (v *Validator) candidates(ctx context.Context, t *crucible.Task) ([]*crucible.Node, error) {
	nodes, err := v.Store.FindNodes(ctx)
	if err != nil {
		return nil, err
	}
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, s := range subs {
		taken[s.Hotkey] = true
	}
	recent, err := v.Store.FindScoresSince(ctx, v.Now().Add(-7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	sum, count := map[string]float64{}, map[string]int{}
	for _, s := range recent {
		sum[s.Hotkey] += s.QualityScore
		count[s.Hotkey]++
	}
	var pool []*crucible.Node
	for _, n := range nodes {
		if n.IsValidator() || n.IP == "" || n.Port == 0 || taken[n.Hotkey] {
			continue
		}
		pool = append(pool, n)
	}
	sort.Slice(pool, func(a, b int) bool { return pool[a].Hotkey < pool[b].Hotkey })
	// Efraimidis–Spirakis weighted sampling without replacement: key = u^(1/w).
	seed := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%d", v.cfg.Seed, t.ID, t.TimesDelayed))
	rng := mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:16])))
	keys := make(map[string]float64, len(pool))
	for _, n := range pool {
		w := 2.0 // never scored recently: a fair chance to show what it can do
		if c := count[n.Hotkey]; c > 0 {
			w = math.Max(0.05, 1+sum[n.Hotkey]/float64(c))
		}
		keys[n.Hotkey] = math.Pow(rng.Float64(), 1/w)
	}
	sort.SliceStable(pool, func(a, b int) bool { return keys[pool[a].Hotkey] > keys[pool[b].Hotkey] })
	return pool, nil
}

// offer asks miners, in candidate order, until PoolMax have accepted or the
// candidates run out. Offers go out in parallel, a batch at a time.
func (v *Validator) offer(ctx context.Context, t *crucible.Task) (time.Time, error) {
	if len(t.Assignees) > 0 {
		return v.offerAssigned(ctx, t)
	}
	pool, err := v.candidates(ctx, t)
	if err != nil {
		return time.Time{}, err
	}
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return time.Time{}, err
	}
	accepted := len(subs)
	offer := api.TaskOffer{TaskID: t.ID, TaskType: t.Type, Model: t.Model, ModelParamsCount: t.ModelParamsCount,
		DatasetSize: t.TrainRows, HoursToComplete: t.HoursToComplete}
	offered, declined := len(pool), 0
	for len(pool) > 0 && accepted < v.cfg.PoolMax {
		batch := pool[:min(len(pool), v.cfg.PoolMax-accepted)]
		pool = pool[len(batch):]
		answers := make([]api.OfferResponse, len(batch))
		var wg sync.WaitGroup
		for i, n := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = v.sendOffer(ctx, n, offer)
			}()
		}
		wg.Wait()
		for i, n := range batch {
			a := answers[i]
			if err := v.Store.AddOfferResponse(ctx, &crucible.OfferResponse{TaskID: t.ID, Hotkey: n.Hotkey, Accepted: a.Accepted, Message: a.Message}); err != nil {
				return time.Time{}, err
			}
			if !a.Accepted {
				declined++
				v.event(ctx, t.ID, crucible.EventProgress, n.Hotkey, "declined: "+a.Message, nil)
				continue
			}
			sub := &crucible.Submission{TaskID: t.ID, Hotkey: n.Hotkey, ExpectedName: newName()}
			if err := v.Store.CreateSubmission(ctx, sub); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
				return time.Time{}, err
			}
			accepted++
			v.event(ctx, t.ID, crucible.EventProgress, n.Hotkey, "accepted the task", nil)
		}
	}
	now := v.Now()
	if accepted >= v.cfg.PoolMin {
		return now, v.move(ctx, t, crucible.StatusReady, nil)
	}
	if t.TimesDelayed >= v.cfg.MaxDelays {
		return now, v.fail(ctx, t, crucible.StatusFailureFindingNodes, "no miner accepted the task after %d attempts", t.TimesDelayed+1)
	}
	at := now.Add(v.cfg.DelayFor)
	why := "no miner is registered with an address to offer it to"
	if offered > 0 {
		why = fmt.Sprintf("%d of the %d miners offered it declined or did not answer; %d accepted, %d needed", declined, offered, accepted, v.cfg.PoolMin)
	}
	v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("delayed: %s; offering again at %s (attempt %d of %d)",
		why, at.UTC().Format("15:04:05 UTC"), t.TimesDelayed+2, v.cfg.MaxDelays+1), nil)
	return at, v.move(ctx, t, crucible.StatusDelayed, func(t *crucible.Task) {
		t.TimesDelayed++
		t.NextDelayAt = &at
	})
}

// offerAssigned offers a task to its assignees only (a tournament match's
// members, or the champion), all at once. A tournament member that
// declines or cannot be reached takes part with that failure, which counts
// for the other side; the task starts with those that accepted, and fails
// when none did. A champion that cannot take a customer's task hands it to
// an open competition instead, so that the customer does not wait.
func (v *Validator) offerAssigned(ctx context.Context, t *crucible.Task) (time.Time, error) {
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return time.Time{}, err
	}
	have := map[string]*crucible.Submission{}
	for _, s := range subs {
		have[s.Hotkey] = s
	}
	offer := api.TaskOffer{TaskID: t.ID, TaskType: t.Type, Model: t.Model, ModelParamsCount: t.ModelParamsCount,
		DatasetSize: t.TrainRows, HoursToComplete: t.HoursToComplete}
	var ask []string
	for _, h := range t.Assignees {
		if have[h] == nil {
			ask = append(ask, h)
		}
	}
	answers := make([]api.OfferResponse, len(ask))
	var wg sync.WaitGroup
	for i, h := range ask {
		n, err := v.Store.FindNode(ctx, h)
		if err != nil || n.Validator || n.IP == "" || n.Port == 0 {
			answers[i] = api.OfferResponse{Message: "not a miner serving on the network"}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = v.sendOffer(ctx, n, offer)
		}()
	}
	wg.Wait()
	champion := t.Competition == crucible.CompetitionChampion
	var declined []string
	for i, h := range ask {
		a := answers[i]
		if err := v.Store.AddOfferResponse(ctx, &crucible.OfferResponse{TaskID: t.ID, Hotkey: h, Accepted: a.Accepted, Message: a.Message}); err != nil {
			return time.Time{}, err
		}
		sub := &crucible.Submission{TaskID: t.ID, Hotkey: h, ExpectedName: newName()}
		if a.Accepted {
			v.event(ctx, t.ID, crucible.EventProgress, h, "accepted the task", nil)
		} else {
			declined = append(declined, h+": "+a.Message)
			v.event(ctx, t.ID, crucible.EventProgress, h, "declined: "+a.Message, nil)
			if champion {
				continue
			}
			sub.Failure = "did not take the task: " + a.Message
		}
		if err := v.Store.CreateSubmission(ctx, sub); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
			return time.Time{}, err
		}
		have[h] = sub
	}
	accepted := 0
	for _, s := range have {
		if s.Failure == "" {
			accepted++
		}
	}
	now := v.Now()
	switch {
	case accepted > 0:
		return now, v.move(ctx, t, crucible.StatusReady, nil)
	case champion:
		v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("the champion cannot take the task (%s); it is offered to every miner instead", strings.Join(declined, "; ")), nil)
		return now, v.move(ctx, t, crucible.StatusLookingForNodes, func(t *crucible.Task) {
			t.Competition, t.Assignees = crucible.CompetitionOpen, nil
		})
	}
	return now, v.fail(ctx, t, crucible.StatusFailureFindingNodes, "no assigned miner took the task: %s", strings.Join(declined, "; "))
}

// sendOffer sends one offer; any failure to get an answer is a refusal.
func (v *Validator) sendOffer(ctx context.Context, n *crucible.Node, offer api.TaskOffer) api.OfferResponse {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.OfferTimeout)
	defer cancel()
	resp, err := v.Miners(n).Offer(ctx, offer)
	if err != nil {
		return api.OfferResponse{Accepted: false, Message: "no answer: " + unreachable(err)}
	}
	return resp
}

// newName returns a fresh unguessable result name.
func newName() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// unreachable says in words why a miner did not answer, for the task's
// events a customer reads: the transport's error text is kept only when
// it is none of the usual cases.
func unreachable(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout"):
		return "it did not answer in time (the miner is overloaded or gone)"
	case strings.Contains(msg, "connection refused"):
		return "unreachable (nothing listens at its address; the miner is down)"
	case strings.Contains(msg, "no such host"):
		return "unreachable (its address does not resolve)"
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset"):
		return "it dropped the connection"
	}
	return msg
}
