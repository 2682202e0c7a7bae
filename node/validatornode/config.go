package validatornode

import (
	"path/filepath"
	"runtime"
	"time"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/validator"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config configures a validator node: the lifecycle's settings
// (validator.Config) and the node's own. Each field's doc comment is its
// documentation and states its default (package config).
type Config struct {
	validator.Config

	// Home is the validator's state directory. Its database, blobs, hotkey
	// and extracted assets live there unless --db, --blobs or --key say
	// otherwise, and a lock in it keeps a second validator off the same
	// state. Defaults to `$CRUCIBLE_HOME`.
	Home string `flag:"home"`
	// Listen is the address of the validator's HTTP API (customers, miners
	// and the results log). Defaults to `127.0.0.1:8090`.
	Listen string `flag:"listen"`
	// DB is the task store: a SQLite file or a postgres:// URL. Defaults to
	// validator.db in the state directory.
	DB string `flag:"db"`
	// Blobs is where datasets, splits and results are kept: a directory, or
	// s3://bucket/prefix with the endpoint and credentials taken from
	// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_REGION. Defaults to blobs in the state directory.
	Blobs string `flag:"blobs"`
	// Key is the validator's hotkey file, created when missing. Defaults to
	// keys/validator.json in the state directory.
	Key string `flag:"key"`
	// Chain is the chain: "embedded" (a local chain in this process, its
	// state in the validator's database), a "crucible chain" URL, a JSON
	// state file for a local chain in this process, or a Subtensor node
	// (subtensor://HOST:PORT, Bittensor's chain; needs NetUID). Defaults to
	// `embedded`.
	Chain string `flag:"chain"`
	// NetUID is the Bittensor subnet crucible runs on, with a Subtensor
	// --chain.
	NetUID int `flag:"netuid"`
	// BlockTime is the time per block of a local chain in this process.
	// Defaults to `1s`.
	BlockTime time.Duration `flag:"block-time"`
	// Assets is the directory of shipped models customers pick by name;
	// when the default one holds none, the models inside the binary are
	// used. Defaults to `assets/models`.
	Assets string `flag:"assets"`
	// Poll is the longest wait between two looks at a running task.
	// Defaults to `10s`.
	Poll time.Duration `flag:"poll"`
	// Workers is how many tasks are advanced at the same time. Defaults to
	// `4`.
	Workers int `flag:"workers"`
	// SpareThreads is how many threads running Go code (GOMAXPROCS) the
	// validator process gets beyond the CPUs it may use, so that its API
	// and the node protocol find one at once while an evaluation's kernels
	// keep every CPU busy (without one, a request can wait for a kernel
	// worker to yield its thread: crucible bench network --duration 1m on
	// 2 cores, SQLite, a task's GET p99 46 ms without, 37 ms with one).
	// Defaults to `1`.
	SpareThreads int `flag:"spare-threads"`
	// Stake is the stake (TAO) added to this validator at start, on a local
	// chain (in this process or "crucible chain"). Defaults to `1000`.
	Stake float64 `flag:"stake"`
	// WeightsEvery is how often weights are computed and set; 0 never.
	// Defaults to `10m`.
	WeightsEvery time.Duration `flag:"weights-every"`
	// Evaluator computes test losses: engine (crucible's own, deterministic
	// to the bit on a CPU) or torch (PyTorch through crucible_torch, on a
	// GPU when there is one: for models the CPU cannot evaluate in time).
	// Every loss of a task comes from one kind, recorded in the results
	// log. Defaults to `engine`.
	Evaluator string `flag:"evaluator"`
	// Python is, for --evaluator torch, the Python interpreter with
	// PyTorch. Empty: the first of python3 on PATH, /usr/bin/python3 and
	// /usr/local/bin/python3 that imports torch.
	Python string `flag:"python"`
	// TorchDevice is, for --evaluator torch, the device: auto (a GPU when
	// there is one), cpu, cuda or cuda:N. Defaults to `auto`.
	TorchDevice string `flag:"torch-device"`
	// Verbose logs every lifecycle step.
	Verbose bool `flag:"verbose"`
	// Experiments is a folder of experiment reports (crucible experiment
	// series|platforms --dir FOLDER/NAME) the dashboard shows on
	// /experiments; empty shows none.
	Experiments string `flag:"experiments"`
	// SyntheticEvery is how often a synthetic task is considered while no
	// customer waits; 0 turns synthetic tasks off.
	SyntheticEvery time.Duration `flag:"synthetic-every"`
	// SyntheticModels are the base models of synthetic tasks. Defaults to
	// `crucible-tiny`.
	SyntheticModels []string `flag:"synthetic-models"`
	// SyntheticDatasets are the datasets of synthetic tasks (their type is
	// detected); none means the shipped ones, in datasets next to the
	// models directory.
	SyntheticDatasets []string `flag:"synthetic-datasets"`
	// SyntheticHours is the time budget of synthetic tasks, in hours; 0
	// picks it from the dataset's size.
	SyntheticHours float64 `flag:"synthetic-hours"`
	// RatePerAddress is how many requests one address (an IPv4 address,
	// an IPv6 /64) may make a minute, to any route: the API, the
	// dashboard, the node protocol, the results log. Defaults to `1200`.
	RatePerAddress int `flag:"rate-per-address"`
	// RatePerAccount is how many requests one customer account may make a
	// minute through the API and the dashboard, whichever of its keys it
	// uses (an admin may give a key more). Defaults to `600`.
	RatePerAccount int `flag:"rate-per-account"`
	// PublicDownloads lets anyone download the winner of a public task, and
	// the artifacts a finished public task publishes for auditors, without
	// an API key; off, each download needs a key (any account's).
	PublicDownloads bool `flag:"public-downloads"`
	// MaxDataset is the largest dataset a customer may upload in resumable
	// chunks, in bytes (one-request uploads stop at 512 MiB). Defaults to
	// `34359738368`.
	MaxDataset int64 `flag:"max-dataset-bytes"`
	// WebhooksAllowPrivate lets customers' webhooks target loopback and
	// private addresses (a receiver on this machine or network); public
	// validators leave it off, since a webhook URL is the customer's to name.
	WebhooksAllowPrivate bool `flag:"webhooks-allow-private"`
	// WebhookAttempts is how many times a webhook message is tried before
	// it is marked failed. Defaults to `8`.
	WebhookAttempts int `flag:"webhook-attempts"`
	// WebhookBackoff is the wait after a webhook message's first failed
	// attempt; it doubles after each (up to an hour). Defaults to `10s`.
	WebhookBackoff time.Duration `flag:"webhook-backoff"`
	// HubPush, when set to a hub user or organization ORG, pushes the
	// winner of every successful public customer task to the model hub as
	// ORG/crucible-TASK, with its model card; the token is HF_TOKEN.
	HubPush string `flag:"hub-push"`
	// HubEndpoint is the model hub's URL; "" is HF_ENDPOINT, else
	// https://huggingface.co.
	HubEndpoint string `flag:"hub-endpoint"`
	// HubEvery is how often winners not pushed yet are looked for (with
	// --hub-push). Defaults to `1m`.
	HubEvery time.Duration `flag:"hub-every"`
	// Prices is a JSON price table (currency, per hour or per million
	// tokens, a price per model-size tier, a minimum; see
	// validatornode.PriceTable): estimates then quote a price. "" quotes
	// none.
	Prices string `flag:"prices"`
	// HeartbeatEvery is how often every miner is asked what it takes (its
	// budget range, model size, free slots); one that answered within three
	// rounds counts as online. Defaults to `30s`.
	HeartbeatEvery time.Duration `flag:"heartbeat-every"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Validate checks the settings.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case c.SpareThreads < 0:
		return crucible.Errorf(crucible.EINVALID, "--spare-threads %d: must not be negative", c.SpareThreads)
	case c.Workers < 1:
		return crucible.Errorf(crucible.EINVALID, "--workers %d: at least one task must be advanced at a time", c.Workers)
	case c.Poll <= 0:
		return crucible.Errorf(crucible.EINVALID, "--poll %s: must be positive", c.Poll)
	case c.BlockTime <= 0:
		return crucible.Errorf(crucible.EINVALID, "--block-time %s: must be positive", c.BlockTime)
	case c.Stake < 0:
		return crucible.Errorf(crucible.EINVALID, "--stake %g: must not be negative", c.Stake)
	case c.RatePerAddress < 1 || c.RatePerAccount < 1:
		return crucible.Errorf(crucible.EINVALID, "--rate-per-address %d and --rate-per-account %d must be at least 1", c.RatePerAddress, c.RatePerAccount)
	case c.HeartbeatEvery <= 0:
		return crucible.Errorf(crucible.EINVALID, "--heartbeat-every %s: must be positive", c.HeartbeatEvery)
	case c.HubEvery <= 0:
		return crucible.Errorf(crucible.EINVALID, "--hub-every %s: must be positive", c.HubEvery)
	case c.WebhookAttempts < 1:
		return crucible.Errorf(crucible.EINVALID, "--webhook-attempts %d: must be at least 1", c.WebhookAttempts)
	case c.WebhookBackoff <= 0:
		return crucible.Errorf(crucible.EINVALID, "--webhook-backoff %s: must be positive", c.WebhookBackoff)
	case c.MaxDataset < 0:
		return crucible.Errorf(crucible.EINVALID, "--max-dataset-bytes %d: must not be negative", c.MaxDataset)
	case c.SyntheticEvery < 0 || c.WeightsEvery < 0 || c.SyntheticHours < 0:
		return crucible.Errorf(crucible.EINVALID, "--weights-every, --synthetic-every and --synthetic-hours must not be negative")
	case c.Evaluator != "" && c.Evaluator != crucible.EvaluatorEngine && c.Evaluator != crucible.EvaluatorTorch:
		return crucible.Errorf(crucible.EINVALID, "--evaluator %q: want engine or torch", c.Evaluator)
	}
	return nil
}

// resolve fills in the paths that default to the state directory.
func (c *Config) resolve() {
	if c.Home == "" {
		c.Home = node.Home()
	}
	c.Home = node.ExpandHome(c.Home)
	if c.DB == "" {
		c.DB = filepath.Join(c.Home, "validator.db")
	}
	if c.Blobs == "" {
		c.Blobs = filepath.Join(c.Home, "blobs")
	}
	if c.Key == "" {
		c.Key = filepath.Join(c.Home, "keys", "validator.json")
	}
}

// UseSpareThreads lets the process run Go code on spare more threads than
// the CPUs it may use (Config.SpareThreads) and returns what undoes it. The
// engine's results do not depend on the number of threads.
func UseSpareThreads(spare int) (restore func()) {
	prev := runtime.GOMAXPROCS(0)
	if spare <= 0 {
		return func() {}
	}
	runtime.GOMAXPROCS(prev + spare)
	return func() { runtime.GOMAXPROCS(prev) }
}
