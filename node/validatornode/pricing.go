package validatornode

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
)

// PriceTable is what an operator charges for a task, read from the JSON file
// --prices names:
//
//	{"currency": "USD", "per": "hour", "minimum": 0.5,
//	 "tiers": [{"up_to_params": 1000000000, "price": 2}, {"up_to_params": 10000000000, "price": 8}, {"price": 30}]}
//
// "per" is "hour" (of the training budget) or "million_tokens" (of the
// dataset, estimated at one token per four bytes); a task's price is its
// model size's tier price times its hours or millions of tokens, at least
// the minimum.
type PriceTable struct {
	Currency string      `json:"currency"`
	Per      string      `json:"per"`
	Minimum  float64     `json:"minimum,omitempty"`
	Tiers    []PriceTier `json:"tiers"`
}

// PriceTier is the price for base models of up to UpToParams parameters
// (0: any size; the last tier should be one).
type PriceTier struct {
	UpToParams int64   `json:"up_to_params,omitempty"`
	Price      float64 `json:"price"`
}

// LoadPriceTable reads and checks a price table. Returns EINVALID naming the
// file and what is wrong.
func LoadPriceTable(path string) (*PriceTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "--prices %s", path)
	}
	var pt PriceTable
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pt); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: %v", path, err).
			WithHint(`e.g. {"currency": "USD", "per": "hour", "tiers": [{"up_to_params": 1000000000, "price": 2}, {"price": 8}]}`)
	}
	switch {
	case pt.Currency == "" || len(pt.Currency) > 8:
		return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: currency %q must be a short code such as USD", path, pt.Currency)
	case pt.Per != "hour" && pt.Per != "million_tokens":
		return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: per %q must be hour or million_tokens", path, pt.Per)
	case len(pt.Tiers) == 0:
		return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: no tiers", path)
	case pt.Minimum < 0 || math.IsNaN(pt.Minimum):
		return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: minimum %g must not be negative", path, pt.Minimum)
	}
	sort.SliceStable(pt.Tiers, func(a, b int) bool {
		x, y := pt.Tiers[a].UpToParams, pt.Tiers[b].UpToParams
		return x != 0 && (y == 0 || x < y)
	})
	for i, t := range pt.Tiers {
		if t.Price < 0 || math.IsNaN(t.Price) || math.IsInf(t.Price, 0) || t.UpToParams < 0 {
			return nil, crucible.Errorf(crucible.EINVALID, "--prices %s: tier %d: price %g and up_to_params %d must not be negative", path, i+1, t.Price, t.UpToParams)
		}
	}
	return &pt, nil
}

// Quote prices a task: the tier of its model size times its hours (or its
// millions of tokens), at least the minimum. ok is false when no tier takes
// a model this large.
func (pt *PriceTable) Quote(params int64, hours float64, tokens int64) (price float64, basis string, ok bool) {
	for _, t := range pt.Tiers {
		if t.UpToParams != 0 && params > t.UpToParams {
			continue
		}
		size := "any size"
		if t.UpToParams != 0 {
			size = "up to " + humanParams(t.UpToParams) + " parameters"
		}
		if pt.Per == "hour" {
			price = t.Price * hours
			basis = fmt.Sprintf("%.3g h at %.4g %s an hour (models of %s)", hours, t.Price, pt.Currency, size)
		} else {
			m := float64(tokens) / 1e6
			price = t.Price * m
			basis = fmt.Sprintf("≈%.3g million tokens at %.4g %s a million (models of %s)", m, t.Price, pt.Currency, size)
		}
		if price < pt.Minimum {
			price, basis = pt.Minimum, basis+fmt.Sprintf(", raised to the minimum %.4g %s", pt.Minimum, pt.Currency)
		}
		return math.Round(price*100) / 100, basis, true
	}
	return 0, "", false
}

func humanParams(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}

// heartbeats keeps what each miner last answered to the heartbeat.
type heartbeats struct {
	mu   sync.Mutex
	seen map[string]beat
}

type beat struct {
	info api.MinerInfo
	at   time.Time
}

// onlineFor is how recent a heartbeat must be for its miner to count as
// online: three rounds.
func (n *Node) onlineFor() time.Duration { return 3 * n.cfg.HeartbeatEvery }

// heartbeat asks every registered miner what it takes (protocol.InfoMiner),
// all at once, and records the answers.
func (n *Node) heartbeat(ctx context.Context) error {
	nodes, err := n.store.FindNodes(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, nd := range nodes {
		if nd.IsValidator() || nd.IP == "" || nd.Port == 0 {
			continue
		}
		im, ok := n.v.Miners(nd).(protocol.InfoMiner)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			info, err := im.Info(cctx)
			if err != nil {
				return
			}
			n.beats.mu.Lock()
			n.beats.seen[nd.Hotkey] = beat{info: info, at: time.Now()}
			n.beats.mu.Unlock()
		}()
	}
	wg.Wait()
	// A miner that left the metagraph is forgotten: the map holds the
	// registered miners only, however many come and go.
	registered := make(map[string]bool, len(nodes))
	for _, nd := range nodes {
		registered[nd.Hotkey] = true
	}
	n.beats.mu.Lock()
	for h := range n.beats.seen {
		if !registered[h] {
			delete(n.beats.seen, h)
		}
	}
	n.beats.mu.Unlock()
	return nil
}

// fleet describes the miners online (heartbeat within onlineFor) for an
// estimate: how many, how many would take a task of this type, size and
// budget, and why the others would not.
func (n *Node) fleet(ctx context.Context, typ crucible.TaskType, params int64, hours float64) (online, fit int, warnings []string, err error) {
	nodes, err := n.store.FindNodes(ctx)
	if err != nil {
		return 0, 0, nil, err
	}
	n.beats.mu.Lock()
	defer n.beats.mu.Unlock()
	minHours, maxHours := math.Inf(1), 0.0
	var tooShort, tooLong, tooBig, wrongType int
	for _, nd := range nodes {
		b, ok := n.beats.seen[nd.Hotkey]
		if nd.IsValidator() || !ok || time.Since(b.at) > n.onlineFor() {
			continue
		}
		online++
		minHours, maxHours = math.Min(minHours, b.info.MinHours), math.Max(maxHours, b.info.MaxHours)
		switch {
		case !containsType(b.info.TaskTypes, typ):
			wrongType++
		case params > b.info.MaxParams:
			tooBig++
		case hours < b.info.MinHours:
			tooShort++
		case hours > b.info.MaxHours:
			tooLong++
		default:
			fit++
		}
	}
	switch {
	case online == 0:
		warnings = append(warnings, "no miner is online (none answered the validator's heartbeat lately): the task waits until one is")
	case fit == 0 && tooShort == online:
		warnings = append(warnings, fmt.Sprintf("the budget %.3g h is below every online miner's minimum (the lowest is %.3g h): raise --hours", hours, minHours))
	case fit == 0 && tooLong == online:
		warnings = append(warnings, fmt.Sprintf("the budget %.3g h is above every online miner's maximum (the highest is %.3g h): lower --hours", hours, maxHours))
	case fit == 0:
		warnings = append(warnings, fmt.Sprintf("no online miner takes this task now (%d too short a budget, %d too long, %d the model too large, %d not this task type)",
			tooShort, tooLong, tooBig, wrongType))
	}
	return online, fit, warnings, nil
}

func containsType(ts []crucible.TaskType, t crucible.TaskType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// datasetBytes is the size of a dataset on disk (a file, or a folder's
// files), for token estimates.
func datasetBytes(path string) int64 {
	var n int64
	filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
