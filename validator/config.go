package validator

import (
	"time"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config is the task lifecycle's configuration. Each field's doc comment
// is its documentation and states its default (package config).
type Config struct {
	// PublicURL is the base URL miners use to reach this validator, put in
	// the download links and upload URLs they get. Defaults to the address
	// the validator listens on.
	PublicURL string `flag:"public-url"`
	// PoolMin is the fewest miners a task may start with. Defaults to `1`.
	PoolMin int `flag:"pool-min"`
	// PoolMax is the most miners a task is given to. Defaults to `8`.
	PoolMax int `flag:"pool-max"`
	// OfferTimeout is how long a miner has to answer an offer. Defaults to
	// `5s`.
	OfferTimeout time.Duration `flag:"offer-timeout"`
	// DelayFor is the wait before offering a task again when no miner
	// accepted it. Defaults to `15m`.
	DelayFor time.Duration `flag:"delay-for"`
	// ReofferMin is the least time that must remain before a task's deadline
	// for it to be offered to other miners when every miner it was given to
	// failed, lost it or vanished. Defaults to `10m`.
	ReofferMin time.Duration `flag:"reoffer-min"`
	// MinerUnreachable is how long a training miner may go without
	// answering before it no longer counts as training (its upload is
	// still taken until the deadline). Defaults to `2m`.
	MinerUnreachable time.Duration `flag:"miner-unreachable"`
	// MaxDelays is how many times a task is delayed before it fails for lack
	// of miners. Defaults to `6`.
	MaxDelays int `flag:"max-delays"`
	// LinkTTL is how long the signed download links given to miners work
	// after the training deadline. Defaults to `24h`.
	LinkTTL time.Duration `flag:"link-ttl"`
	// MaxUpload is the largest result a miner may upload, in bytes.
	// Defaults to `21474836480`.
	MaxUpload int64 `flag:"max-upload-bytes"`
	// MaxEvalTries is how many evaluation attempts a task gets before it
	// fails. Defaults to `3`.
	MaxEvalTries int `flag:"max-eval-attempts"`
	// DefaultHours is the time budget, in hours, of a task that names none;
	// 0 picks one from the dataset's size.
	DefaultHours float64 `flag:"default-hours"`
	// TestCap is the largest hidden test split, in rows. Defaults to `1000`.
	TestCap int `flag:"test-cap"`
	// MinRows is the smallest dataset accepted, in rows. Defaults to `20`.
	MinRows int `flag:"min-rows"`
	// Seed seeds the split, the honeypots and the choice of whom to offer
	// tasks to. Defaults to `42`.
	Seed int64 `flag:"seed"`
	// BurnHotkey receives the burned share of the weights (on Bittensor
	// the subnet owner's hotkey, whose incentive is recycled); empty leaves
	// that share off the chain, which then shares the miners' weights out
	// in proportion.
	BurnHotkey string `flag:"burn-hotkey"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.PoolMin < 1 || c.PoolMax < c.PoolMin:
		return crucible.Errorf(crucible.EINVALID, "pool size range [%d, %d] is empty (pool-min must be at least 1)", c.PoolMin, c.PoolMax)
	case c.OfferTimeout <= 0:
		return crucible.Errorf(crucible.EINVALID, "offer-timeout must be positive")
	case c.ReofferMin <= 0 || c.MinerUnreachable <= 0:
		return crucible.Errorf(crucible.EINVALID, "reoffer-min and miner-unreachable must be positive")
	case c.MaxDelays < 0:
		return crucible.Errorf(crucible.EINVALID, "max-delays must not be negative")
	case c.MaxEvalTries < 1:
		return crucible.Errorf(crucible.EINVALID, "max-eval-attempts must be at least 1")
	case c.LinkTTL <= 0:
		return crucible.Errorf(crucible.EINVALID, "link-ttl must be positive")
	case c.TestCap < 1:
		return crucible.Errorf(crucible.EINVALID, "test-cap must be at least 1")
	}
	return nil
}
