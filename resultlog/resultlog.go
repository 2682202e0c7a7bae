// Package resultlog defines crucible's public results log: an append-only,
// hash-chained sequence of entries, each signed by the validator's hotkey,
// recording every evaluated task's per-miner results and every weight vector
// the validator set. Auditors replay it to recompute weights; because each
// entry names the hash of the one before it and carries a signature, an
// entry that is altered, dropped or reordered is detected.
//
// The package is pure logic shared by the validator (which appends) and the
// auditor (which verifies); storage is the store's ResultLogService.
package resultlog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Entry kinds.
const (
	KindTaskResult = "task_result"
	KindWeights    = "weights"
	KindTournament = "tournament"
)

// TaskResult is the payload of a task_result entry: everything needed to
// recompute the task's scores and to re-run its evaluations.
type TaskResult struct {
	TaskID      string            `json:"task_id"`
	TaskType    crucible.TaskType `json:"task_type"`
	IsOrganic   bool              `json:"is_organic"`
	Model       string            `json:"model"`
	ModelParams int64             `json:"model_params"`
	Hours       float64           `json:"hours"`
	Work        float64           `json:"work"`
	SpecVersion string            `json:"spec_version"`
	BaseLoss    *float64          `json:"base_loss,omitempty"`
	// Rewards and BaseReward are a grpo task's reward functions and the
	// base's evaluation; its miners rank by Reward.Score, highest first,
	// on completions sampled with crucible.EvalSeed(TaskID).
	Rewards    []crucible.Reward      `json:"rewards,omitempty"`
	BaseReward *crucible.RewardResult `json:"base_reward,omitempty"`
	// Evaluator is what computed the task's losses (crucible's engine or the
	// PyTorch evaluator, with versions): auditors re-run the same kind and
	// compare as crucible.SameLoss says. Absent in entries written before it
	// was recorded, which are the engine's.
	Evaluator  *crucible.EvaluatorInfo `json:"evaluator,omitempty"`
	TestData   string                  `json:"test_data"`        // blob key of the test split, public once the task is over
	TestSHA256 string                  `json:"test_sha256"`      // hash of the test split
	Mapping    crucible.ColumnMapping  `json:"mapping"`          // how to read the test split
	Winner     string                  `json:"winner,omitempty"` // hotkey
	FinishedAt time.Time               `json:"finished_at"`      // when it was scored: the time its scores count from
	// Numerics is the arithmetic class of the validator's evaluation on
	// crucible's engine (ml/eval.Numerics, e.g. "fp32/amd64-avx/avx2");
	// empty in entries written before it was recorded and for the torch
	// evaluator's losses. An auditor of the same class reproduces the
	// engine's losses bit for bit, one of another class within
	// ml/eval.NumericsBound.
	Numerics string        `json:"numerics,omitempty"`
	Miners   []MinerResult `json:"miners"`
	// Competition is how the task found its miners: empty or "open" for
	// an open competition, whose scores count toward weights; "champion"
	// or "tournament" for a routed task, whose results count only through
	// its tournament.
	Competition string `json:"competition,omitempty"`
	Tournament  string `json:"tournament,omitempty"`
}

// Routed reports whether the task was given to named miners (the
// champion, a tournament match) rather than competed for in the open.
func (t TaskResult) Routed() bool {
	return t.Competition == crucible.CompetitionChampion || t.Competition == crucible.CompetitionTournament
}

// Tournament is the payload of a tournament entry: everything needed to
// re-derive the bracket, every decision and the tournament's weights, and
// to check that each entrant really entered (its signed entry).
type Tournament struct {
	TournamentID string                      `json:"tournament_id"`
	SpecVersion  string                      `json:"spec_version"`
	Settings     crucible.TournamentSettings `json:"settings"`
	Entries      []crucible.TournamentEntry  `json:"entries"`
	// Defender is the champion when entries closed, DefenderWins its
	// tournaments won in a row then.
	Defender     string `json:"defender,omitempty"`
	DefenderWins int    `json:"defender_wins,omitempty"`
	// Matches are the bracket, round by round, with every task's results.
	Matches    []*crucible.TournamentMatch `json:"matches"`
	Challenger string                      `json:"challenger,omitempty"`
	Winner     string                      `json:"winner,omitempty"`
	Margin     *float64                    `json:"margin,omitempty"` // the boss round's median margin
	// ChampionWins and ChampionMargin are the champion's consecutive
	// wins after this tournament and its margin when it first won: what
	// its boosted share is computed from.
	ChampionWins   int       `json:"champion_wins,omitempty"`
	ChampionMargin *float64  `json:"champion_margin,omitempty"`
	FinishedAt     time.Time `json:"finished_at"`
}

// Entrants lists the tournament's entrants' hotkeys.
func (t Tournament) Entrants() []string {
	out := make([]string, len(t.Entries))
	for i, e := range t.Entries {
		out[i] = e.Hotkey
	}
	return out
}

// DecodeTournaments reads the tournament entries of a log, in log order.
func DecodeTournaments(entries []*crucible.ResultEntry) ([]Tournament, error) {
	var out []Tournament
	for _, e := range entries {
		if e.Kind != KindTournament {
			continue
		}
		var t Tournament
		if err := json.Unmarshal(e.Payload, &t); err != nil {
			return nil, fmt.Errorf("results log entry %d: %w", e.Seq, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// MinerResult is one miner's line in a TaskResult.
type MinerResult struct {
	Hotkey string   `json:"hotkey"`
	Loss   *float64 `json:"loss,omitempty"`
	// Reward is the miner's grpo evaluation (grpo tasks rank by its Score).
	Reward    *crucible.RewardResult `json:"reward,omitempty"`
	Failure   string                 `json:"failure,omitempty"`
	SHA256    string                 `json:"sha256,omitempty"`
	ResultKey string                 `json:"result_key,omitempty"`
	Rank      int                    `json:"rank"`
	Score     float64                `json:"score"`
	Reason    string                 `json:"reason,omitempty"`
	// Training is how the miner says it trained the submission (its
	// training.json, checked and summarised), so that miners learn from
	// each other; nil when it said nothing usable or the task is private.
	Training *crucible.TrainingSummary `json:"training,omitempty"`
}

// Weights is the payload of a weights entry.
type Weights struct {
	SpecVersion string             `json:"spec_version"`
	Weights     map[string]float64 `json:"weights"` // hotkey → weight, summing to 1 (the burned share under scoring's BurnKey)
	// BurnHotkey is where the burned share was set on chain; empty when
	// it was left off the chain.
	BurnHotkey string    `json:"burn_hotkey,omitempty"`
	Block      int64     `json:"block,omitempty"`
	ComputedAt time.Time `json:"computed_at"` // the "now" the weights were computed at
}

// Hash is an entry's hash: hex SHA-256 over its sequence number (8 bytes,
// big endian), the previous hash, the kind and the payload, each
// length-prefixed so that no two different entries hash alike.
func Hash(seq int64, prevHash, kind string, payload []byte) string {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	for _, part := range [][]byte{[]byte(prevHash), []byte(kind), payload} {
		binary.BigEndian.PutUint64(b[:], uint64(len(part)))
		h.Write(b[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Signer signs entry hashes.
type Signer interface {
	Address() string
	Sign(msg []byte) ([]byte, error)
}

// Next builds the entry that follows prev (nil for the first), with the
// payload marshalled as JSON, hashed and signed.
func Next(prev *crucible.ResultEntry, kind string, payload any, s Signer) (*crucible.ResultEntry, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("results log payload: %w", err)
	}
	e := &crucible.ResultEntry{Seq: 1, Kind: kind, Payload: body, Signer: s.Address()}
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = Hash(e.Seq, e.PrevHash, e.Kind, e.Payload)
	sig, err := s.Sign([]byte(e.Hash))
	if err != nil {
		return nil, fmt.Errorf("sign results log entry: %w", err)
	}
	e.Signature = hex.EncodeToString(sig)
	return e, nil
}

// VerifyFunc checks a signature by an SS58 address over msg.
type VerifyFunc func(address string, msg, sig []byte) error

// Problem is one discrepancy found in a log.
type Problem struct {
	Seq     int64  `json:"seq"`
	Message string `json:"message"`
}

// Verify checks a log (or a contiguous part of one starting after
// prevHash at sequence number first-1): sequence numbers without gaps, each
// entry's hash, the chain of hashes, the signer, and each signature. It
// returns every problem found; none means the log is intact.
func Verify(entries []*crucible.ResultEntry, first int64, prevHash, signer string, verify VerifyFunc) []Problem {
	var out []Problem
	want := first
	for _, e := range entries {
		bad := func(format string, args ...any) {
			out = append(out, Problem{Seq: e.Seq, Message: fmt.Sprintf(format, args...)})
		}
		if e.Seq != want {
			bad("sequence number %d where %d was expected (an entry is missing or out of order)", e.Seq, want)
		}
		if e.PrevHash != prevHash {
			bad("names previous hash %.16s…, but the previous entry's hash is %.16s…", e.PrevHash, prevHash)
		}
		if h := Hash(e.Seq, e.PrevHash, e.Kind, e.Payload); h != e.Hash {
			bad("content does not match its hash (the entry was altered)")
		}
		if signer != "" && e.Signer != signer {
			bad("signed by %s, not by the validator %s", e.Signer, signer)
		}
		sig, err := hex.DecodeString(e.Signature)
		if err != nil {
			bad("signature is not hex")
		} else if err := verify(e.Signer, []byte(e.Hash), sig); err != nil {
			bad("signature does not verify: %v", err)
		}
		prevHash = e.Hash
		want = e.Seq + 1
	}
	return out
}

// Decode reads the payloads of a log's entries: task results and weights,
// in log order. Entries of other kinds are skipped.
func Decode(entries []*crucible.ResultEntry) (tasks []TaskResult, weights []Weights, err error) {
	for _, e := range entries {
		switch e.Kind {
		case KindTaskResult:
			var t TaskResult
			if err := json.Unmarshal(e.Payload, &t); err != nil {
				return nil, nil, fmt.Errorf("results log entry %d: %w", e.Seq, err)
			}
			tasks = append(tasks, t)
		case KindWeights:
			var w Weights
			if err := json.Unmarshal(e.Payload, &w); err != nil {
				return nil, nil, fmt.Errorf("results log entry %d: %w", e.Seq, err)
			}
			weights = append(weights, w)
		}
	}
	return tasks, weights, nil
}

// Scores turns task results into the per-miner scores the weights are
// computed from, as the validator stored them: open competitions only (a
// routed task counts through its tournament, if any).
func Scores(tasks []TaskResult) []*crucible.Score {
	var out []*crucible.Score
	for _, t := range tasks {
		if t.Routed() {
			continue
		}
		for _, m := range t.Miners {
			out = append(out, &crucible.Score{TaskID: t.TaskID, Hotkey: m.Hotkey, TaskType: t.TaskType,
				IsOrganic: t.IsOrganic, QualityScore: m.Score, Work: t.Work, TestLoss: m.Loss,
				SpecVersion: t.SpecVersion, CreatedAt: t.FinishedAt})
		}
	}
	return out
}
