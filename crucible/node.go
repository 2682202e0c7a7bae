package crucible

import (
	"context"
	"time"
)

// Node is a participant registered on the chain: a miner or a validator.
type Node struct {
	UID        int       `json:"uid"`
	Hotkey     string    `json:"hotkey"`  // SS58 address of the signing key
	Coldkey    string    `json:"coldkey"` // SS58 address of the owning key
	IP         string    `json:"ip"`
	Port       int       `json:"port"`
	Stake      float64   `json:"stake"`
	Validator  bool      `json:"validator_permit"`
	Incentive  float64   `json:"incentive"`
	Trust      float64   `json:"trust"`
	VTrust     float64   `json:"validator_trust"`
	Dividends  float64   `json:"dividends"`
	Consensus  float64   `json:"consensus"`
	Emission   float64   `json:"emission"`
	LastUpdate int64     `json:"last_update"` // block of the last weights set
	UpdatedAt  time.Time `json:"updated_at"`
}

// IsValidator reports whether the node acts as a validator. A permit alone
// does not say so: permits go to the largest stakes, and a miner's stake
// grows with what it earns, so a small subnet gives its miners permits too.
// A node with a permit counts as a validator unless it earns more as a miner
// (incentive) than as a validator (dividends).
func (n *Node) IsValidator() bool {
	return n.Validator && (n.Incentive == 0 || n.Dividends >= n.Incentive)
}

// Addr returns the node's axon address as host:port.
func (n *Node) Addr() string {
	return joinHostPort(n.IP, n.Port)
}

// NodeService stores the validator's view of the metagraph.
type NodeService interface {
	// UpsertNodes replaces the stored metagraph with nodes.
	UpsertNodes(ctx context.Context, nodes []*Node) error
	// FindNode returns the node with hotkey. Returns ENOTFOUND.
	FindNode(ctx context.Context, hotkey string) (*Node, error)
	// FindNodes returns every stored node ordered by uid.
	FindNodes(ctx context.Context) ([]*Node, error)
}
