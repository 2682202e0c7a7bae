package validator

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// tasksOf is how many tasks a match plays.
func tasksOf(s crucible.TournamentSettings, k crucible.MatchKind) int {
	switch k {
	case crucible.MatchGroup:
		return s.GroupTasks
	case crucible.MatchBoss:
		return s.BossTasks
	}
	return s.PairTasks
}

// advanceMatch moves one match on: a bye goes through; otherwise the
// current task is created when missing, its results are collected once it
// has ended, the next task is set, and once every task is decided so is
// the match. Tasks run one after another, so a miner never trains two of
// the same tournament's tasks at once.
func (v *Validator) advanceMatch(ctx context.Context, t *crucible.Tournament, m *crucible.TournamentMatch) error {
	if m.Kind == crucible.MatchPair && len(m.Members) == 1 {
		m.Done, m.Advance, m.Note = true, m.Members, "bye"
		if err := v.saveMatch(ctx, m); err != nil {
			return err
		}
		v.tevent(ctx, t.ID, "match", fmt.Sprintf("round %d, pair %d: %s has a bye", m.Round, m.Index+1, m.Members[0]), nil)
		return nil
	}
	for {
		if n := len(m.Tasks); n == 0 || (m.Tasks[n-1].Done && n < tasksOf(t.Settings, m.Kind)) {
			mt := v.planTask(t, m, n)
			m.Tasks = append(m.Tasks, mt)
			// Save the plan before creating the task: a crash in between
			// finds the planned task missing and creates it.
			if err := v.saveMatch(ctx, m); err != nil {
				return err
			}
		}
		cur := &m.Tasks[len(m.Tasks)-1]
		if !cur.Done {
			task, err := v.Store.FindTask(ctx, cur.TaskID)
			if crucible.ErrorCode(err) == crucible.ENOTFOUND {
				return v.createMatchTask(ctx, t, m, *cur)
			}
			if err != nil {
				return err
			}
			if !task.Status.Terminal() {
				return nil // still playing
			}
			if err := v.decideTask(ctx, t, m, cur, task); err != nil {
				return err
			}
			if err := v.saveMatch(ctx, m); err != nil {
				return err
			}
			v.tevent(ctx, t.ID, "task", matchTaskLine(m, cur), map[string]any{"round": m.Round, "match": m.Index, "task": *cur})
		}
		if len(m.Tasks) >= tasksOf(t.Settings, m.Kind) {
			break
		}
	}
	v.decideMatch(t, m)
	if err := v.saveMatch(ctx, m); err != nil {
		return err
	}
	v.tevent(ctx, t.ID, "match", fmt.Sprintf("round %d, %s: %s", m.Round, matchName(m), m.Note),
		map[string]any{"round": m.Round, "match": m.Index, "advance": m.Advance})
	return nil
}

// saveMatch saves a match; a concurrent change is an error here (the
// step is retried and reads it again).
func (v *Validator) saveMatch(ctx context.Context, m *crucible.TournamentMatch) error {
	return v.Store.SaveMatch(ctx, m)
}

// planTask chooses a match's task number k: its type (the stage's types,
// the boss round cycling through them so that they mix), and a pool task
// of that type, drawn with a seed of the tournament, the match and k; its
// ID is derived from the same, so that it is created once.
func (v *Validator) planTask(t *crucible.Tournament, m *crucible.TournamentMatch, k int) crucible.MatchTask {
	seed := fmt.Sprintf("crucible-tournament-task/v1\n%s/%d/%d/%d", t.ID, m.Round, m.Index, k)
	h := sha256.Sum256([]byte(seed))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
	s := t.Settings
	types := s.KnockoutTypes
	switch m.Kind {
	case crucible.MatchGroup:
		types = s.GroupTypes
	case crucible.MatchBoss:
		types = s.BossTypes
	}
	typ := types[rng.IntN(len(types))]
	if m.Kind == crucible.MatchBoss {
		typ = types[k%len(types)]
	}
	var specs []int
	for i, p := range s.Pool {
		if p.Type == typ {
			specs = append(specs, i)
		}
	}
	spec := specs[rng.IntN(len(specs))]
	return crucible.MatchTask{TaskID: uuidOf(h[16:32]), Type: typ, Spec: spec}
}

// createMatchTask creates a planned task with its lifecycle job, given to
// the match's members.
func (v *Validator) createMatchTask(ctx context.Context, t *crucible.Tournament, m *crucible.TournamentMatch, mt crucible.MatchTask) error {
	p := t.Settings.Pool[mt.Spec]
	task := &crucible.Task{
		ID: mt.TaskID, Type: p.Type, Model: p.Model, Dataset: p.Dataset, Rewards: p.Rewards,
		HoursToComplete: t.Settings.Hours, Competition: crucible.CompetitionTournament,
		Assignees: append([]string(nil), m.Members...), Tournament: t.ID,
	}
	if p.Mapping != nil {
		mp := *p.Mapping
		task.Mapping = &mp
	}
	note := fmt.Sprintf("tournament %s, round %d, %s, task %d of %d", t.ID, m.Round, matchName(m), len(m.Tasks), tasksOf(t.Settings, m.Kind))
	err := v.Submit(ctx, task, note)
	switch code := crucible.ErrorCode(err); {
	case code == crucible.ECONFLICT:
		return nil // created by an earlier attempt
	case code == crucible.EINVALID || code == crucible.ENOTFOUND:
		// The pool's task cannot be set (its dataset is gone, say): that is
		// the operator's doing, not the members'; the tournament stops.
		now := v.Now()
		t.Status, t.FinishedAt = crucible.TournamentCancelled, &now
		t.Failure = fmt.Sprintf("round %d, %s: the pool's %s task on %s cannot be set: %s", m.Round, matchName(m), p.Type, p.Dataset, errText(err))
		if err := v.saveTournament(ctx, t); err != nil {
			return err
		}
		v.tevent(ctx, t.ID, "status", "cancelled: "+t.Failure, nil)
		return nil
	case err != nil:
		return fmt.Errorf("tournament %s: create task: %w", t.ID, err)
	}
	v.tevent(ctx, t.ID, "task", fmt.Sprintf("round %d, %s: task %s (%s, %s) for %s", m.Round, matchName(m), task.ID, p.Type, p.Model, strings.Join(m.Members, ", ")),
		map[string]any{"round": m.Round, "match": m.Index, "task_id": task.ID})
	return nil
}

// decideTask collects each member's result of an ended task and decides
// who won it: the best valid result, or in the boss round the challenger
// only by the champion's threshold.
func (v *Validator) decideTask(ctx context.Context, t *crucible.Tournament, m *crucible.TournamentMatch, mt *crucible.MatchTask, task *crucible.Task) error {
	subs, err := v.Store.FindSubmissions(ctx, task.ID)
	if err != nil {
		return err
	}
	by := map[string]*crucible.Submission{}
	for _, s := range subs {
		by[s.Hotkey] = s
	}
	mt.Results = nil
	for _, h := range m.Members {
		r := crucible.MatchResult{Hotkey: h}
		s := by[h]
		switch {
		case s == nil:
			r.Failure = "took no part in the task"
			if task.Failure != "" {
				r.Failure += ": " + task.Failure
			}
		case s.Failure != "":
			r.Failure = s.Failure
		case task.Type == crucible.TaskGRPO && s.Reward != nil:
			score := s.Reward.Score
			r.Reward = &score
		case s.TestLoss != nil:
			loss := *s.TestLoss
			r.Loss = &loss
		default:
			r.Failure = "not evaluated"
			if task.Failure != "" {
				r.Failure += ": " + task.Failure
			}
		}
		mt.Results = append(mt.Results, r)
	}
	mt.Done = true
	if m.Kind == crucible.MatchBoss {
		thr := v.spec.Tournament.Threshold(t.DefenderWins)
		mt.Threshold = &thr
		mt.Winner, mt.Margin, mt.Note = v.spec.Tournament.BossTask(*mt, m.Members[0], m.Members[1], thr)
		return nil
	}
	mt.Winner = scoring.TaskWinner(*mt, m.Members)
	switch {
	case mt.Winner == "":
		mt.Note = "every member failed"
	case task.Type == crucible.TaskGRPO:
		mt.Note = "highest reward"
	default:
		mt.Note = "lowest test loss"
	}
	return nil
}

// decideMatch decides a match whose tasks are all decided.
func (v *Validator) decideMatch(t *crucible.Tournament, m *crucible.TournamentMatch) {
	m.Done = true
	switch m.Kind {
	case crucible.MatchGroup:
		m.Advance = scoring.GroupAdvance(m.Tasks, m.Members, t.Settings.Advance)
		m.Note = "advance: " + orNobody(m.Advance)
	case crucible.MatchPair:
		m.Advance = nil
		if w := scoring.PairWinner(m.Tasks, m.Members); w != "" {
			m.Advance = []string{w}
		}
		m.Note = "winner: " + orNobody(m.Advance)
	case crucible.MatchBoss:
		winner, margin := scoring.BossOutcome(m.Tasks, m.Members[0], m.Members[1])
		m.Advance = []string{winner}
		wins := 0
		for _, mt := range m.Tasks {
			if mt.Winner == m.Members[0] {
				wins++
			}
		}
		verdict := "the champion keeps the title"
		if winner == m.Members[0] {
			verdict = "the challenger takes the title"
		}
		m.Note = fmt.Sprintf("the challenger won %d of %d tasks (%d needed): %s", wins, len(m.Tasks), len(m.Tasks)/2+1, verdict)
		if margin != nil {
			m.Note += fmt.Sprintf("; median margin %.2f%%", 100**margin)
		}
	}
}

func orNobody(hs []string) string {
	if len(hs) == 0 {
		return "nobody (every member failed)"
	}
	return strings.Join(hs, ", ")
}

// matchName names a match in events: "group 2", "pair 3", "boss round".
func matchName(m *crucible.TournamentMatch) string {
	switch m.Kind {
	case crucible.MatchGroup:
		return fmt.Sprintf("group %d", m.Index+1)
	case crucible.MatchBoss:
		return "boss round"
	}
	return fmt.Sprintf("pair %d", m.Index+1)
}

// matchTaskLine describes a decided task: every member's result and the
// winner.
func matchTaskLine(m *crucible.TournamentMatch, mt *crucible.MatchTask) string {
	var parts []string
	for _, r := range mt.Results {
		switch {
		case r.Loss != nil:
			parts = append(parts, fmt.Sprintf("%s loss %.4f", r.Hotkey, *r.Loss))
		case r.Reward != nil:
			parts = append(parts, fmt.Sprintf("%s reward %.4f", r.Hotkey, *r.Reward))
		default:
			parts = append(parts, fmt.Sprintf("%s failed (%s)", r.Hotkey, r.Failure))
		}
	}
	w := mt.Winner
	if w == "" {
		w = "nobody"
	}
	return fmt.Sprintf("round %d, %s, %s task %s: %s; winner %s (%s)", m.Round, matchName(m), mt.Type, mt.TaskID, strings.Join(parts, ", "), w, mt.Note)
}

// uuidOf formats 16 bytes as a version 4 UUID (the version and variant
// bits set), the form of a task ID.
func uuidOf(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
