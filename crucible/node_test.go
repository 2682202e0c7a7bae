package crucible

import "testing"

// TestIsValidator checks that a permit makes a validator only when the node
// does not earn more as a miner: on a small subnet miners that earned stake
// hold permits too.
func TestIsValidator(t *testing.T) {
	tests := []struct {
		name string
		n    Node
		want bool
	}{
		{"no permit", Node{Stake: 5}, false},
		{"permit, nothing earned yet", Node{Validator: true, Stake: 1000}, true},
		{"permit and dividends", Node{Validator: true, Stake: 1000, Dividends: 1}, true},
		{"miner whose earnings bought a permit", Node{Validator: true, Stake: 12, Incentive: 0.6}, false},
		{"both, dividends larger", Node{Validator: true, Incentive: 0.1, Dividends: 0.5}, true},
	}
	for _, tt := range tests {
		if got := tt.n.IsValidator(); got != tt.want {
			t.Errorf("%s: IsValidator() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
