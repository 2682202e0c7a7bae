package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// leaderboardDays are the windows the leaderboard offers.
var leaderboardDays = []int{1, 3, 7, 30}

func (s *Server) networkStatus(w http.ResponseWriter, r *http.Request, _ *caller) error {
	st, err := s.network(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, st)
	return nil
}

// network computes the headline counters: in one query where the store
// sums tasks itself, else reading the succeeded tasks in pages to sum what
// was trained.
func (s *Server) network(ctx context.Context) (*api.NetworkStatus, error) {
	st := &api.NetworkStatus{TasksByStatus: map[crucible.TaskStatus]int{}}
	if tt, ok := s.b.(taskTotaler); ok {
		t, err := tt.TaskTotals(ctx, "")
		if err != nil {
			return nil, err
		}
		for status, n := range t.ByStatus {
			st.TasksByStatus[status] = n
			st.Tasks += n
			if !status.Terminal() {
				st.TasksRunning += n
			}
		}
		st.TasksSucceeded = st.TasksByStatus[crucible.StatusSuccess]
		st.ParamsTrained, st.RowsTrainedOn, st.TokensTrainedOn = t.ParamsTrained, t.RowsTrained, t.TokensTrained
		return s.networkNodes(ctx, st)
	}
	for _, status := range crucible.Statuses {
		_, n, err := s.b.FindTasks(ctx, crucible.TaskFilter{Statuses: []crucible.TaskStatus{status}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			st.TasksByStatus[status] = n
		}
		st.Tasks += n
		if !status.Terminal() {
			st.TasksRunning += n
		}
	}
	st.TasksSucceeded = st.TasksByStatus[crucible.StatusSuccess]
	const page = 500
	for off := 0; off < st.TasksSucceeded; off += page {
		tasks, _, err := s.b.FindTasks(ctx, crucible.TaskFilter{Statuses: []crucible.TaskStatus{crucible.StatusSuccess}, Limit: page, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			st.ParamsTrained += t.ModelParamsCount
			st.RowsTrainedOn += int64(t.TrainRows)
			st.TokensTrainedOn += t.TrainTokens
		}
		if len(tasks) < page {
			break
		}
	}
	return s.networkNodes(ctx, st)
}

// nodeCounter is a store that counts validators and miners in one query
// (sqlstore does); without it the server reads every node.
type nodeCounter interface {
	CountNodes(ctx context.Context) (validators, miners int, err error)
}

// networkNodes fills in the counts of nodes and the time of the last
// weights.
func (s *Server) networkNodes(ctx context.Context, st *api.NetworkStatus) (*api.NetworkStatus, error) {
	if nc, ok := s.b.(nodeCounter); ok {
		v, m, err := nc.CountNodes(ctx)
		if err != nil {
			return nil, err
		}
		st.Validators, st.Miners = v, m
	} else {
		nodes, err := s.b.FindNodes(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if n.IsValidator() {
				st.Validators++
			} else {
				st.Miners++
			}
		}
	}
	ws, err := s.b.FindWeights(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(ws) > 0 {
		at := ws[0].CreatedAt
		st.LastWeightsAt = &at
	}
	return st, nil
}

func (s *Server) minerStandings(w http.ResponseWriter, r *http.Request, _ *caller) error {
	days, err := intParam(r.URL.Query().Get("days"), 7, 1, 3650)
	if err != nil {
		return err
	}
	board, err := s.leaderboard(r.Context(), days)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, board)
	return nil
}

// leaderboard ranks the miners over the last days: by score summed over
// their tasks, then wins, then weight. Every registered miner is listed,
// those without a task in the window with zeros.
func (s *Server) leaderboard(ctx context.Context, days int) ([]*api.MinerStanding, error) {
	scores, err := s.b.FindScoresSince(ctx, s.opt.Now().Add(-time.Duration(days)*24*time.Hour))
	if err != nil {
		return nil, err
	}
	nodes, err := s.b.FindNodes(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := s.b.FindWeights(ctx, 1)
	if err != nil {
		return nil, err
	}
	by := map[string]*api.MinerStanding{}
	get := func(hotkey string) *api.MinerStanding {
		m, ok := by[hotkey]
		if !ok {
			m = &api.MinerStanding{Hotkey: hotkey}
			by[hotkey] = m
		}
		return m
	}
	for _, n := range nodes {
		if !n.IsValidator() {
			uid := n.UID
			get(n.Hotkey).UID = &uid
		}
	}
	best := map[string]float64{} // task → best quality score
	for _, sc := range scores {
		if q, ok := best[sc.TaskID]; !ok || sc.QualityScore > q {
			best[sc.TaskID] = sc.QualityScore
		}
	}
	for _, sc := range scores {
		m := get(sc.Hotkey)
		m.Tasks++
		m.Score += sc.QualityScore
		if sc.QualityScore > 0 && sc.QualityScore == best[sc.TaskID] {
			m.Wins++
		}
		if sc.TestLoss != nil && (m.BestLoss == nil || *sc.TestLoss < *m.BestLoss) {
			l := *sc.TestLoss
			m.BestLoss = &l
		}
	}
	if len(ws) > 0 {
		for hotkey, wt := range ws[0].Weights {
			if m, ok := by[hotkey]; ok {
				m.Weight = wt
			} else if wt > 0 {
				get(hotkey).Weight = wt
			}
		}
	}
	board := make([]*api.MinerStanding, 0, len(by))
	for _, m := range by {
		board = append(board, m)
	}
	slices.SortFunc(board, func(a, b *api.MinerStanding) int {
		switch {
		case a.Score != b.Score:
			return cmpDesc(a.Score, b.Score)
		case a.Wins != b.Wins:
			return b.Wins - a.Wins
		case a.Weight != b.Weight:
			return cmpDesc(a.Weight, b.Weight)
		}
		return strings.Compare(a.Hotkey, b.Hotkey)
	})
	return board, nil
}

func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}
