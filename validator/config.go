package validator

import (
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Config is a validator's configuration. DefaultConfig holds the documented
// defaults.
type Config struct {
	PublicURL string `flag:"public-url" help:"base URL miners use to reach this validator. Defaults to http://<listen>"`

	PoolMin      int           `flag:"pool-min" help:"fewest miners a task may start with"`
	PoolMax      int           `flag:"pool-max" help:"most miners a task is given to"`
	OfferTimeout time.Duration `flag:"offer-timeout" help:"how long a miner has to answer an offer"`
	DelayFor     time.Duration `flag:"delay-for" help:"wait before offering a task again when no miner accepted"`
	MaxDelays    int           `flag:"max-delays" help:"times a task is delayed before it fails for lack of miners"`
	LinkTTL      time.Duration `flag:"link-ttl" help:"lifetime of the signed download links given to miners"`
	MaxUpload    int64         `flag:"max-upload-bytes" help:"largest result a miner may upload"`
	MaxEvalTries int           `flag:"max-eval-attempts" help:"evaluation attempts before a task fails"`
	DefaultHours float64       `flag:"default-hours" help:"time budget for a task that names none, in hours (0 picks one from the dataset size)"`
	TestCap      int           `flag:"test-cap" help:"largest hidden test split, in rows"`
	MinRows      int           `flag:"min-rows" help:"smallest dataset accepted, in rows"`
	Seed         int64         `flag:"seed" help:"seed for the split, the honeypots and choosing whom to offer tasks to"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PoolMin:      1,
		PoolMax:      8,
		OfferTimeout: 5 * time.Second,
		DelayFor:     15 * time.Minute,
		MaxDelays:    6,
		LinkTTL:      24 * time.Hour,
		MaxUpload:    20 << 30,
		MaxEvalTries: 3,
		TestCap:      1000,
		MinRows:      20,
		Seed:         42,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.PoolMin < 1 || c.PoolMax < c.PoolMin:
		return crucible.Errorf(crucible.EINVALID, "pool size range [%d, %d] is empty (pool-min must be at least 1)", c.PoolMin, c.PoolMax)
	case c.OfferTimeout <= 0:
		return crucible.Errorf(crucible.EINVALID, "offer-timeout must be positive")
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
