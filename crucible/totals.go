package crucible

// TaskTotals are sums over a set of tasks, as a store computes them in one
// query: the network's headline counters and an account's spending are
// read on every request, and loading every task for them made each request
// as slow as the store is large.
type TaskTotals struct {
	ByStatus map[TaskStatus]int
	// Over the succeeded tasks: the base models' parameters, and the rows
	// and tokens trained on.
	ParamsTrained, RowsTrained, TokensTrained int64
	// Spent is the sum of the prices of the tasks that count against their
	// account's credit: all but those that ended before any miner trained
	// (data that could not be prepared, no miner found, cancelled before
	// the start).
	Spent float64
}
