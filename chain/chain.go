package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
)

// Chain is what crucible's nodes need from a chain. Every method may return a
// *crucible.Error; refusals that Subtensor names are *Error values whose Name
// is Subtensor's error name (match them with errors.Is and the Err*
// variables).
type Chain interface {
	// CurrentBlock returns the number of the latest block.
	CurrentBlock(ctx context.Context) (int64, error)
	// Hyperparams returns the subnet's parameters.
	Hyperparams(ctx context.Context) (Hyperparams, error)
	// Metagraph returns every registered neuron, ordered by uid, with the
	// results of the last epoch.
	Metagraph(ctx context.Context) (*Metagraph, error)
	// Register registers hotkey (owned by coldkey) and returns its uid.
	// ECONFLICT (ErrHotKeyAlreadyRegistered) if it is registered already;
	// ECONFLICT (ErrNoNeuronIDAvailable) when the subnet is full and every
	// neuron is still immune.
	Register(ctx context.Context, hotkey, coldkey string) (uid int, err error)
	// ServeAxon publishes the address at which hotkey's node listens.
	// ENOTFOUND (ErrHotKeyNotRegistered), EINVALID (ErrInvalidIPAddress,
	// ErrInvalidPort), ECONFLICT (ErrServingRateLimitExceeded).
	ServeAxon(ctx context.Context, hotkey, ip string, port int) error
	// SetWeights sets hotkey's weights on the given uids, with the checks
	// of Subtensor's set_weights (see CheckWeights). Values are any
	// non-negative u16 scale; the chain max-upscales them.
	SetWeights(ctx context.Context, hotkey string, uids, weights []uint16, versionKey uint64) error
	// AddStake adds amount TAO of stake to hotkey. ENOTFOUND, EINVALID.
	AddStake(ctx context.Context, hotkey string, amount float64) error
}

// Metagraph is the state of the subnet at a block.
type Metagraph struct {
	Block          int64       `json:"block"`
	LastEpochBlock int64       `json:"last_epoch_block"`
	Hyperparams    Hyperparams `json:"hyperparams"`
	Neurons        []Neuron    `json:"neurons"` // index = uid
}

// Neuron is a registered uid: the domain's Node plus what only the chain
// knows.
type Neuron struct {
	crucible.Node
	Active       bool        `json:"active"`        // set weights within the activity cutoff
	RegisteredAt int64       `json:"registered_at"` // block of registration
	AxonBlock    int64       `json:"axon_block"`    // block of the last serve_axon
	Weights      []UIDWeight `json:"weights,omitempty"`
	Bonds        []UIDWeight `json:"bonds,omitempty"`
}

// UIDWeight is one entry of a sparse weight or bond row.
type UIDWeight struct {
	UID   uint16 `json:"uid"`
	Value uint16 `json:"value"`
}

// Nodes returns the neurons as domain nodes, ordered by uid.
func (m *Metagraph) Nodes() []*crucible.Node {
	out := make([]*crucible.Node, len(m.Neurons))
	for i := range m.Neurons {
		n := m.Neurons[i].Node
		out[i] = &n
	}
	return out
}

// Node returns the node with hotkey, or ENOTFOUND.
func (m *Metagraph) Node(hotkey string) (*crucible.Node, error) {
	for i := range m.Neurons {
		if m.Neurons[i].Hotkey == hotkey {
			n := m.Neurons[i].Node
			return &n, nil
		}
	}
	return nil, crucible.Errorf(crucible.ENOTFOUND, "hotkey %s is not registered on the chain", hotkey)
}

// Error is a refusal that Subtensor names, e.g. SettingWeightsTooFast. It
// unwraps to a *crucible.Error carrying the code, so crucible.ErrorCode
// works on it, and errors.Is matches it against the Err* variables by name.
type Error struct {
	Name    string // Subtensor's name for the refusal
	Code    string // crucible error code
	Message string // what exactly was wrong
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Unwrap returns the refusal as a *crucible.Error.
func (e *Error) Unwrap() error { return &crucible.Error{Code: e.Code, Message: e.Error()} }

// Is matches any *Error with the same Name.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Name == e.Name
}

// with returns a copy of the named refusal e with a formatted message.
func (e *Error) with(format string, args ...any) *Error {
	return &Error{Name: e.Name, Code: e.Code, Message: fmt.Sprintf(format, args...)}
}

// The refusals, named as Subtensor names them.
var (
	ErrWeightVecNotEqualSize      = &Error{Name: "WeightVecNotEqualSize", Code: crucible.EINVALID}
	ErrUidsLengthExceedUids       = &Error{Name: "UidsLengthExceedUidsInSubNet", Code: crucible.EINVALID}
	ErrHotKeyNotRegistered        = &Error{Name: "HotKeyNotRegisteredInSubNet", Code: crucible.ENOTFOUND}
	ErrNotEnoughStakeToSetWeights = &Error{Name: "NotEnoughStakeToSetWeights", Code: crucible.EFORBIDDEN}
	ErrIncorrectWeightVersionKey  = &Error{Name: "IncorrectWeightVersionKey", Code: crucible.EINVALID}
	ErrSettingWeightsTooFast      = &Error{Name: "SettingWeightsTooFast", Code: crucible.ECONFLICT}
	ErrNeuronNoValidatorPermit    = &Error{Name: "NeuronNoValidatorPermit", Code: crucible.EFORBIDDEN}
	ErrDuplicateUids              = &Error{Name: "DuplicateUids", Code: crucible.EINVALID}
	ErrUidVecContainInvalidOne    = &Error{Name: "UidVecContainInvalidOne", Code: crucible.EINVALID}
	ErrWeightVecLengthIsLow       = &Error{Name: "WeightVecLengthIsLow", Code: crucible.EINVALID}
	ErrMaxWeightExceeded          = &Error{Name: "MaxWeightExceeded", Code: crucible.EINVALID}
	ErrHotKeyAlreadyRegistered    = &Error{Name: "HotKeyAlreadyRegisteredInSubNet", Code: crucible.ECONFLICT}
	ErrNoNeuronIDAvailable        = &Error{Name: "NoNeuronIdAvailable", Code: crucible.ECONFLICT}
	ErrInvalidIPAddress           = &Error{Name: "InvalidIpAddress", Code: crucible.EINVALID}
	ErrInvalidPort                = &Error{Name: "InvalidPort", Code: crucible.EINVALID}
	ErrServingRateLimitExceeded   = &Error{Name: "ServingRateLimitExceeded", Code: crucible.ECONFLICT}
	ErrAmountTooLow               = &Error{Name: "AmountTooLow", Code: crucible.EINVALID}
	ErrInvalidAddress             = &Error{Name: "InvalidAddress", Code: crucible.EINVALID}
)

// WeightsAllowedAt returns the first block at which hotkey may set weights
// again under the rate limit (0 if it never set any). ENOTFOUND if the
// hotkey is not registered.
func (m *Metagraph) WeightsAllowedAt(hotkey string) (int64, error) {
	n, err := m.Node(hotkey)
	if err != nil {
		return 0, err
	}
	if n.LastUpdate == 0 {
		return 0, nil
	}
	return n.LastUpdate + m.Hyperparams.WeightsRateLimit, nil
}
