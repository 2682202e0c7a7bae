package validator

import "math"

// HoursFor is the time budget of a task that names none: three minutes up
// to 1500 training rows, one more minute per 500 rows beyond, at most two
// hours. crucible's CPU trainers make good use of short budgets on small
// models; customers wanting more say so.
func HoursFor(rows int) float64 {
	minutes := math.Min(math.Max(3, float64(rows)/500), 120)
	return minutes / 60
}
