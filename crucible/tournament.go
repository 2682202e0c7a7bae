package crucible

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// Tournaments rank training methods over many tasks instead of rewarding
// single wins: miners enter with a declared method, play a group stage
// (when many enter) and knockout pairs on tasks the validator sets, and the
// bracket's winner meets the defending champion in a boss round, where it
// must beat the champion by a margin on a majority of tasks. Customers'
// tasks are then trained by the champion's miner.

// TournamentStatus is a step in a tournament's life.
type TournamentStatus string

// Tournament statuses: entries → running → finished, or cancelled.
const (
	TournamentEntries   TournamentStatus = "entries"   // announced; miners enter until EntriesClose
	TournamentRunning   TournamentStatus = "running"   // rounds are being played
	TournamentFinished  TournamentStatus = "finished"  // a champion is decided (terminal)
	TournamentCancelled TournamentStatus = "cancelled" // too few entrants, or an operator stopped it (terminal)
)

// Terminal reports whether s is a final status.
func (s TournamentStatus) Terminal() bool {
	return s == TournamentFinished || s == TournamentCancelled
}

// Valid reports whether s is a known status.
func (s TournamentStatus) Valid() bool {
	switch s {
	case TournamentEntries, TournamentRunning, TournamentFinished, TournamentCancelled:
		return true
	}
	return false
}

// MatchKind is the kind of a match in a tournament's bracket.
type MatchKind string

// Match kinds.
const (
	MatchGroup MatchKind = "group" // a group stage's group: the best Advance members go on
	MatchPair  MatchKind = "pair"  // a knockout pair; a pair of one is a bye
	MatchBoss  MatchKind = "boss"  // the bracket's winner (first member) against the defending champion (second)
)

// TournamentTaskSpec is a task a tournament may set: its type, base model,
// dataset and (grpo) rewards. Every task drawn from it gets the tournament's
// time budget.
type TournamentTaskSpec struct {
	Type    TaskType       `json:"type"`
	Model   string         `json:"model"`
	Dataset string         `json:"dataset"`
	Mapping *ColumnMapping `json:"mapping,omitempty"`
	Rewards []Reward       `json:"rewards,omitempty"`
}

// TournamentSettings are a tournament's rules, fixed when it is announced.
type TournamentSettings struct {
	// MinEntrants is how many miners must enter for the tournament to be
	// played; with fewer it is cancelled when entries close.
	MinEntrants int `json:"min_entrants"`
	// KnockoutMax is the largest field played as knockout pairs; a larger
	// one plays a group stage first.
	KnockoutMax int `json:"knockout_max"`
	// GroupSize is the size a group aims for; MinGroupSize the smallest
	// group the stage makes (fewer, larger groups otherwise).
	GroupSize    int `json:"group_size"`
	MinGroupSize int `json:"min_group_size"`
	// Advance is how many of each group go on, ranked by their results.
	Advance int `json:"advance"`
	// GroupTasks, PairTasks and BossTasks are the tasks each group, each
	// knockout pair and the boss round play, one after another.
	GroupTasks int `json:"group_tasks"`
	PairTasks  int `json:"pair_tasks"`
	BossTasks  int `json:"boss_tasks"`
	// Hours is each task's training budget.
	Hours float64 `json:"hours"`
	// Fee is the entry fee in TAO (0: free), charged on the chain when an
	// entry is accepted.
	Fee float64 `json:"fee,omitempty"`
	// EntryWindow is how long entries stay open after the announcement.
	EntryWindow time.Duration `json:"entry_window_ns"`
	// Pool is what tasks are drawn from; GroupTypes, KnockoutTypes and
	// BossTypes say which of its types each stage plays (the boss round
	// cycles through its types so that they mix).
	Pool          []TournamentTaskSpec `json:"pool"`
	GroupTypes    []TaskType           `json:"group_types"`
	KnockoutTypes []TaskType           `json:"knockout_types"`
	BossTypes     []TaskType           `json:"boss_types"`
}

// DefaultTournamentSettings are Gradients' tournament rules: at least 8
// entrants; up to 14 play knockout pairs, more a group stage of groups of
// about 32 (no smaller than 20) whose best 8 go on; one task per group
// and per pair, six in the boss round; two hours a task; no fee; entries
// open for an hour. The pool (and so the stages' types) is the
// announcer's.
func DefaultTournamentSettings() TournamentSettings {
	return TournamentSettings{MinEntrants: 8, KnockoutMax: 14, GroupSize: 32, MinGroupSize: 20, Advance: 8,
		GroupTasks: 1, PairTasks: 1, BossTasks: 6, Hours: 2, EntryWindow: time.Hour}
}

// DefaultTypes fills the stages' types a tournament leaves out from its
// pool: the group stage plays instruct tasks when the pool has them (else
// its first type), knockout pairs and the boss round every type of the
// pool, in the pool's order.
func (s *TournamentSettings) DefaultTypes() {
	var all []TaskType
	seen := map[TaskType]bool{}
	for _, p := range s.Pool {
		if !seen[p.Type] {
			seen[p.Type] = true
			all = append(all, p.Type)
		}
	}
	if len(all) == 0 {
		return
	}
	if len(s.GroupTypes) == 0 {
		s.GroupTypes = []TaskType{all[0]}
		if seen[TaskInstruct] {
			s.GroupTypes = []TaskType{TaskInstruct}
		}
	}
	if len(s.KnockoutTypes) == 0 {
		s.KnockoutTypes = all
	}
	if len(s.BossTypes) == 0 {
		s.BossTypes = all
	}
}

// Validate checks the settings.
func (s *TournamentSettings) Validate() error {
	switch {
	case s.MinEntrants < 2:
		return Errorf(EINVALID, "tournament: min_entrants %d must be at least 2", s.MinEntrants)
	case s.KnockoutMax < 2:
		return Errorf(EINVALID, "tournament: knockout_max %d must be at least 2", s.KnockoutMax)
	case s.GroupSize < 2 || s.MinGroupSize < 2 || s.MinGroupSize > s.GroupSize:
		return Errorf(EINVALID, "tournament: want 2 ≤ min_group_size (%d) ≤ group_size (%d)", s.MinGroupSize, s.GroupSize)
	case s.Advance < 1 || s.Advance >= s.MinGroupSize:
		return Errorf(EINVALID, "tournament: advance %d must be at least 1 and below min_group_size %d, or groups eliminate nobody", s.Advance, s.MinGroupSize)
	case s.GroupTasks < 1 || s.GroupTasks > 16:
		return Errorf(EINVALID, "tournament: group_tasks %d must be 1 to 16", s.GroupTasks)
	case s.PairTasks < 1 || s.PairTasks > 15 || s.PairTasks%2 == 0:
		return Errorf(EINVALID, "tournament: pair_tasks %d must be odd, 1 to 15, so that a pair has a winner", s.PairTasks)
	case s.BossTasks < 1 || s.BossTasks > 16:
		return Errorf(EINVALID, "tournament: boss_tasks %d must be 1 to 16", s.BossTasks)
	case !(s.Hours > 0) || s.Hours > 24*7:
		return Errorf(EINVALID, "tournament: hours %g must be above 0 and at most a week", s.Hours)
	case math.IsNaN(s.Fee) || s.Fee < 0 || s.Fee > 1e6:
		return Errorf(EINVALID, "tournament: fee %v must be between 0 and 1e6 TAO", s.Fee)
	case s.EntryWindow < 0:
		return Errorf(EINVALID, "tournament: entry window %s is negative", s.EntryWindow)
	case len(s.Pool) == 0:
		return Errorf(EINVALID, "tournament: the task pool is empty").WithHint("give at least one task spec (type, model, dataset)")
	}
	have := map[TaskType]bool{}
	for i, p := range s.Pool {
		if !p.Type.Valid() {
			return Errorf(EINVALID, "tournament: pool task %d: unknown task type %q", i+1, p.Type)
		}
		if p.Model == "" || p.Dataset == "" {
			return Errorf(EINVALID, "tournament: pool task %d (%s): model and dataset are required", i+1, p.Type)
		}
		if p.Mapping != nil {
			if err := p.Mapping.Validate(p.Type); err != nil {
				return Wrap(err, EINVALID, "tournament: pool task %d", i+1)
			}
		}
		if p.Type == TaskGRPO {
			if err := ValidateRewards(p.Rewards); err != nil {
				return Wrap(err, EINVALID, "tournament: pool task %d", i+1)
			}
		} else if len(p.Rewards) > 0 {
			return Errorf(EINVALID, "tournament: pool task %d: rewards are for grpo tasks, not %s", i+1, p.Type)
		}
		have[p.Type] = true
	}
	for _, stage := range []struct {
		name  string
		types []TaskType
	}{{"group_types", s.GroupTypes}, {"knockout_types", s.KnockoutTypes}, {"boss_types", s.BossTypes}} {
		if len(stage.types) == 0 {
			return Errorf(EINVALID, "tournament: %s is empty", stage.name)
		}
		for _, t := range stage.types {
			if !have[t] {
				return Errorf(EINVALID, "tournament: %s names %s, but the pool has no %s task", stage.name, t, t)
			}
		}
	}
	return nil
}

// Tournament is one tournament: its rules, where it stands, and its
// outcome.
type Tournament struct {
	ID       string             `json:"id"`
	Status   TournamentStatus   `json:"status"`
	Settings TournamentSettings `json:"settings"`
	// Defender is the champion when entries closed (empty when there was
	// none), DefenderMethodHash its method, DefenderWins the tournaments
	// it had won in a row: the boss round's threshold decays with them.
	Defender           string `json:"defender,omitempty"`
	DefenderMethodHash string `json:"defender_method_hash,omitempty"`
	DefenderWins       int    `json:"defender_wins,omitempty"`
	// Round is the round being played (1 for the first; 0 before it).
	Round int `json:"round"`
	// Challenger is the bracket's winner, who meets the defender.
	Challenger string `json:"challenger,omitempty"`
	// Winner is the champion the tournament leaves: the challenger if it
	// won the boss round (or there was no defender), else the defender.
	// Empty when nobody won (every entrant failed, and no defender).
	Winner string `json:"winner,omitempty"`
	// Margin is the median relative margin by which the challenger beat
	// the defender over the boss round's tasks (positive when better).
	Margin       *float64   `json:"margin,omitempty"`
	Failure      string     `json:"failure,omitempty"` // why it was cancelled
	EntriesClose time.Time  `json:"entries_close"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	Version      int        `json:"version"`
}

// Method is a training method a miner enters a tournament with: crucible's
// strategy name and its version (for the engine's recipes, a hash of the
// recipe), or an external trainer's container image digest or repository
// commit. Its hash names it: two miners may not enter the same method.
type Method struct {
	Strategy string `json:"strategy"`
	Version  string `json:"version,omitempty"`
	Image    string `json:"image,omitempty"`  // container image digest, e.g. sha256:…
	Commit   string `json:"commit,omitempty"` // repository commit
}

var methodField = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$`)

// Validate checks a method's form: a strategy name and, where given, a
// version, image and commit of printable identifier characters.
func (m Method) Validate() error {
	if !methodField.MatchString(m.Strategy) {
		return Errorf(EINVALID, "method strategy %q: want 1 to 200 letters, digits or ._:/@+-", m.Strategy)
	}
	for _, f := range []struct{ name, v string }{{"version", m.Version}, {"image", m.Image}, {"commit", m.Commit}} {
		if f.v != "" && !methodField.MatchString(f.v) {
			return Errorf(EINVALID, "method %s %q: want 1 to 200 letters, digits or ._:/@+-", f.name, f.v)
		}
	}
	return nil
}

// Hash is the method's identity: hex SHA-256 over its fields,
// length-prefixed so that no two methods hash alike.
func (m Method) Hash() string {
	h := sha256.New()
	h.Write([]byte("crucible-method/v1"))
	var b [8]byte
	for _, f := range []string{m.Strategy, m.Version, m.Image, m.Commit} {
		binary.BigEndian.PutUint64(b[:], uint64(len(f)))
		h.Write(b[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// String names the method briefly.
func (m Method) String() string {
	s := m.Strategy
	if m.Version != "" {
		s += "@" + m.Version
	}
	if m.Image != "" {
		s += " image " + m.Image
	}
	if m.Commit != "" {
		s += " commit " + m.Commit
	}
	return s
}

// TournamentEntry is a miner's entry: its method, the fee it agreed to pay
// and its signature over both, so that anyone reading the results log can
// check that the miner really entered.
type TournamentEntry struct {
	TournamentID string    `json:"tournament_id"`
	Hotkey       string    `json:"hotkey"`
	Method       Method    `json:"method"`
	MethodHash   string    `json:"method_hash"`
	Fee          float64   `json:"fee"`                 // TAO the miner agreed to pay
	FeeBlock     int64     `json:"fee_block,omitempty"` // the block the fee was charged at
	SignedAt     time.Time `json:"signed_at"`
	Signature    string    `json:"signature"` // hex sr25519 signature by Hotkey over EntryMessage
	CreatedAt    time.Time `json:"created_at"`
}

// EntryMessage is what a miner signs to enter a tournament. The time is
// taken to the microsecond, the precision the entry is stored at.
func EntryMessage(tournamentID, hotkey, methodHash string, fee float64, signedAt time.Time) []byte {
	return fmt.Appendf(nil, "crucible-tournament-entry/v1\n%s\n%s\n%s\n%s\n%s", tournamentID, hotkey, methodHash,
		strconv.FormatFloat(fee, 'g', -1, 64), signedAt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
}

// MatchResult is one member's result on one match task: its test loss, or
// for a grpo task its reward (higher is better), or why it failed.
type MatchResult struct {
	Hotkey  string   `json:"hotkey"`
	Loss    *float64 `json:"loss,omitempty"`
	Reward  *float64 `json:"reward,omitempty"`
	Failure string   `json:"failure,omitempty"`
}

// MatchTask is one task of a match: which task, and once it has ended,
// each member's result and who won it.
type MatchTask struct {
	TaskID  string        `json:"task_id"`
	Type    TaskType      `json:"type"`
	Spec    int           `json:"spec"` // index into the tournament's pool
	Done    bool          `json:"done"`
	Results []MatchResult `json:"results,omitempty"`
	// Winner is the member that won the task ("" when every member
	// failed). In the boss round it is decided with the threshold.
	Winner string `json:"winner,omitempty"`
	// Boss round: the threshold the challenger had to beat and its
	// relative margin (positive when it was better), when both have results.
	Threshold *float64 `json:"threshold,omitempty"`
	Margin    *float64 `json:"margin,omitempty"`
	Note      string   `json:"note,omitempty"` // how the winner was decided
}

// TournamentMatch is one match of a round: a group, a knockout pair or the
// boss round, its tasks (played one after another) and who goes on.
type TournamentMatch struct {
	TournamentID string      `json:"tournament_id"`
	Round        int         `json:"round"`
	Index        int         `json:"index"`
	Kind         MatchKind   `json:"kind"`
	Members      []string    `json:"members"`
	Tasks        []MatchTask `json:"tasks"`
	Done         bool        `json:"done"`
	Advance      []string    `json:"advance,omitempty"` // who goes on (boss: the champion)
	Note         string      `json:"note,omitempty"`    // how it was decided
	UpdatedAt    time.Time   `json:"updated_at"`
	Version      int         `json:"version"`
}

// Champion is one entry in the history of champions: who holds the title
// after a tournament (or was seeded by the operator), with what method, how
// many tournaments in a row it has won, and its margin when it first won.
type Champion struct {
	Seq          int64     `json:"seq"`
	Hotkey       string    `json:"hotkey"`
	Method       Method    `json:"method"`
	MethodHash   string    `json:"method_hash"`
	TournamentID string    `json:"tournament_id,omitempty"` // empty when seeded
	Wins         int       `json:"wins"`                    // tournaments won in a row (a seeded champion counts 1)
	Margin       *float64  `json:"margin,omitempty"`        // median boss-round margin when it first won
	Seeded       bool      `json:"seeded,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// TournamentEvent is one line in a tournament's history.
type TournamentEvent struct {
	ID           int64          `json:"id"`
	TournamentID string         `json:"tournament_id"`
	Kind         string         `json:"kind"` // "status", "round", "match", "task", "entry", "log"
	Message      string         `json:"message"`
	Data         map[string]any `json:"data,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
}

// TournamentFilter selects tournaments; zero fields match all.
type TournamentFilter struct {
	Statuses []TournamentStatus
	Limit    int // 0 means 100
}

// TournamentService stores tournaments, their entries and matches, the
// champions' history and tournament events.
type TournamentService interface {
	// CreateTournament stores t with a new ID (unless it has one), version 1
	// and its times. Returns EINVALID for bad settings, ECONFLICT when a
	// tournament with its ID exists.
	CreateTournament(ctx context.Context, t *Tournament) error
	// FindTournament returns one tournament. Returns ENOTFOUND.
	FindTournament(ctx context.Context, id string) (*Tournament, error)
	// FindTournaments returns tournaments, newest first.
	FindTournaments(ctx context.Context, f TournamentFilter) ([]*Tournament, error)
	// UpdateTournament saves t when its Version matches the stored one and
	// bumps it. Returns ENOTFOUND, ECONFLICT.
	UpdateTournament(ctx context.Context, t *Tournament) error
	// AddEntry stores an entry. Returns ENOTFOUND for an unknown tournament,
	// ECONFLICT when the miner has entered already or its method hash is
	// another entrant's.
	AddEntry(ctx context.Context, e *TournamentEntry) error
	// FindEntries returns a tournament's entries in the order they came.
	FindEntries(ctx context.Context, tournamentID string) ([]*TournamentEntry, error)
	// SaveMatch inserts a match (Version 0) or updates it when its Version
	// matches, bumping it. Returns ECONFLICT, ENOTFOUND for an unknown tournament.
	SaveMatch(ctx context.Context, m *TournamentMatch) error
	// FindMatches returns a tournament's matches by round, then index.
	FindMatches(ctx context.Context, tournamentID string) ([]*TournamentMatch, error)
	// AddChampion appends to the champions' history. Returns ECONFLICT when
	// the tournament has recorded its champion already.
	AddChampion(ctx context.Context, c *Champion) error
	// FindChampions returns up to limit champions, newest first; 0 means 100.
	FindChampions(ctx context.Context, limit int) ([]*Champion, error)
	// AppendTournamentEvent stores e and fills in its ID and time. Returns
	// ENOTFOUND for an unknown tournament.
	AppendTournamentEvent(ctx context.Context, e *TournamentEvent) error
	// FindTournamentEvents returns a tournament's events after afterID, in
	// order, at most limit (0 means 1000).
	FindTournamentEvents(ctx context.Context, tournamentID string, afterID int64, limit int) ([]*TournamentEvent, error)
}
