package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
	"github.com/spf13/cobra"
)

func init() { register(newChainCmd) }

// chainConfig configures "crucible chain", the local chain daemon.
type chainConfig struct {
	Listen            string        `flag:"listen" help:"address to serve the chain API on"`
	DB                string        `flag:"db" help:"file that holds the chain's state (JSON); \"\" keeps it in memory"`
	Tempo             int64         `flag:"tempo" help:"blocks between epochs (Yuma Consensus runs)"`
	BlockTime         time.Duration `flag:"block-time" help:"time per block; 0 moves the clock only through POST /v1/advance"`
	WeightsRateLimit  int64         `flag:"weights-rate-limit" help:"blocks between two set_weights of one neuron"`
	MinAllowedWeights int           `flag:"min-allowed-weights" help:"minimum number of weights in a set_weights"`
	MaxValidators     int           `flag:"max-validators" help:"number of validator permits (top stake)"`
	MaxUIDs           int           `flag:"max-uids" help:"subnet size"`
	ImmunityPeriod    int64         `flag:"immunity-period" help:"blocks a new neuron cannot be replaced"`
	ActivityCutoff    int64         `flag:"activity-cutoff" help:"blocks without set_weights after which a validator's stake stops counting"`
	StakeThreshold    float64       `flag:"stake-threshold" help:"stake (TAO) needed to set weights"`
	VersionKey        int64         `flag:"weights-version-key" help:"minimum version key of set_weights; 0 disables the check"`
	Yuma3             bool          `flag:"yuma3" help:"use Yuma 3 bonds"`
	EmissionPerBlock  float64       `flag:"emission-per-block" help:"TAO emitted per block"`
	FixedPoint        bool          `flag:"fixed-point" help:"run Yuma Consensus in Subtensor's I32F32 fixed point instead of float64 (matches the chain bit for bit on classic Yuma)"`
}

// defaultChainConfig holds the documented defaults: listen 127.0.0.1:9944,
// state in $CRUCIBLE_HOME/chain.json (~/.crucible without CRUCIBLE_HOME),
// tempo 10 blocks of 1 s, weights rate limit 5 blocks, at least 1 weight,
// 64 validator permits, 256 uids, immunity 4096 blocks, activity cutoff
// 5000 blocks, no stake threshold, no version key, classic Yuma in float64,
// 1 TAO emitted per block. Everything else is Subtensor's default.
func defaultChainConfig() *chainConfig {
	home := os.Getenv("CRUCIBLE_HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".crucible")
		} else {
			home = ".crucible"
		}
	}
	return &chainConfig{
		Listen: "127.0.0.1:9944", DB: filepath.Join(home, "chain.json"),
		Tempo: 10, BlockTime: time.Second, WeightsRateLimit: 5, MinAllowedWeights: 1,
		MaxValidators: 64, MaxUIDs: 256, ImmunityPeriod: 4096, ActivityCutoff: 5000,
		EmissionPerBlock: 1,
	}
}

// params returns the chain's hyperparameters: Subtensor's defaults with
// this configuration applied.
func (c *chainConfig) params() chain.Hyperparams {
	p := chain.DefaultHyperparams()
	p.Tempo = c.Tempo
	p.WeightsRateLimit = c.WeightsRateLimit
	p.MinAllowedWeights = c.MinAllowedWeights
	p.MaxAllowedValidators = c.MaxValidators
	p.MaxAllowedUIDs = c.MaxUIDs
	p.ImmunityPeriod = c.ImmunityPeriod
	p.ActivityCutoff = c.ActivityCutoff
	p.StakeThreshold = c.StakeThreshold
	p.WeightsVersionKey = uint64(c.VersionKey)
	p.Yuma3 = c.Yuma3
	p.ServingRateLimit = 0
	p.EmissionPerBlock = c.EmissionPerBlock
	return p
}

// Validate checks the settings.
func (c *chainConfig) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--listen %q: %v", c.Listen, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--listen %q: port %q is not a number from 0 to 65535", c.Listen, port)
	}
	if c.BlockTime < 0 {
		return crucible.Errorf(crucible.EINVALID, "--block-time %s: must not be negative", c.BlockTime)
	}
	if c.VersionKey < 0 {
		return crucible.Errorf(crucible.EINVALID, "--weights-version-key %d: must not be negative", c.VersionKey)
	}
	if err := c.params().Validate(); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "chain settings")
	}
	return nil
}

func newChainCmd() *cobra.Command {
	cfg := defaultChainConfig()
	cmd := &cobra.Command{
		Use:   "chain",
		Short: "Run a local chain: registration, weights and Yuma Consensus, served over HTTP",
		Long: `Run a local chain with Bittensor's rules: neurons register, serve their
address and set weights (checked as Subtensor checks set_weights), and every
--tempo blocks Yuma Consensus turns the weights into incentive, dividends and
emission. State is kept in --db and survives restarts.

Reads (GET /v1/metagraph, /v1/block, /v1/hyperparams) are open; writes
(register, serve_axon, set_weights, add_stake) must be signed by the hotkey
they act for, as crucible nodes sign their requests.`,
		Args: cobra.NoArgs,
	}
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return runChain(cmd.Context(), cfg, cmd.OutOrStdout())
	}
	cmd.AddCommand(newChainMetagraphCmd(), newChainRegisterCmd(), newChainStakeCmd())
	return cmd
}

func runChain(ctx context.Context, cfg *chainConfig, out io.Writer) error {
	l, err := chain.OpenLocal(chain.LocalOptions{Path: cfg.DB, Params: cfg.params(), CheckAddress: checkSS58, FixedPoint: cfg.FixedPoint})
	if err != nil {
		return err
	}
	verifier := sign.NewVerifier(sign.Options{Hotkey: chain.Audience})
	h := chain.NewHandler(l, chain.ServerOptions{Authenticate: verifier.Check, AllowAdvance: cfg.BlockTime == 0})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "chain: listen on %s", cfg.Listen).
			WithHint("is another chain running? pick another address with --listen")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	block, _ := l.CurrentBlock(ctx)
	clock := "advanced by POST /v1/advance"
	if cfg.BlockTime > 0 {
		clock = "one block every " + cfg.BlockTime.String()
	}
	fmt.Fprintf(out, "chain: serving http://%s (state %s, block %d, tempo %d, %s)\n", ln.Addr(), stateName(cfg.DB), block, cfg.Tempo, clock)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("chain: serve: %w", err)
		}
	}()
	if cfg.BlockTime > 0 {
		go func() {
			if err := l.Run(ctx, cfg.BlockTime); err != nil {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = fmt.Errorf("chain: shutdown: %w", serr)
	}
	return err
}

func stateName(path string) string {
	if path == "" {
		return "in memory"
	}
	return path
}

// checkSS58 accepts Bittensor (prefix 42) SS58 addresses.
func checkSS58(addr string) error {
	_, err := sign.PublicKey(addr)
	return err
}

// chainSigner returns a chain.SignFunc that signs writes with whichever of
// keys has the hotkey a write acts for.
func chainSigner(keys ...*sign.Keypair) chain.SignFunc {
	return func(req *http.Request, hotkey string) error {
		for _, k := range keys {
			if k.Address() == hotkey {
				return sign.SignRequest(req, k, chain.Audience, time.Now())
			}
		}
		return crucible.Errorf(crucible.EUNAUTHORIZED, "no key for %s to sign a chain write with", hotkey)
	}
}

// newChainClient returns a client of the chain at url whose writes are signed
// with keys. Validators and miners use it to talk to "crucible chain".
func newChainClient(url string, keys ...*sign.Keypair) *chain.Client {
	return chain.NewClient(url, chainSigner(keys...), &http.Client{Timeout: 30 * time.Second})
}

func newChainMetagraphCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "metagraph",
		Short: "Print the metagraph of a running chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := newChainClient(url).Metagraph(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintf(w, "block %d, last epoch %d, tempo %d\n", m.Block, m.LastEpochBlock, m.Hyperparams.Tempo)
			fmt.Fprintln(w, "UID\tHOTKEY\tSTAKE\tVPERMIT\tVTRUST\tCONSENSUS\tINCENTIVE\tDIVIDENDS\tEMISSION\tAXON")
			for _, n := range m.Neurons {
				axon := "-"
				if n.IP != "" {
					axon = n.Addr()
				}
				fmt.Fprintf(w, "%d\t%s\t%.3f\t%v\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%s\n", n.UID, n.Hotkey, n.Stake, n.Validator,
					n.VTrust, n.Consensus, n.Incentive, n.Dividends, n.Emission, axon)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9944", "the chain's address")
	return cmd
}

func newChainRegisterCmd() *cobra.Command {
	var url, name, dir, coldkey string
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register a key's hotkey on a running chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kp, err := loadKey(dir, name)
			if err != nil {
				return err
			}
			if coldkey == "" {
				coldkey = kp.Address()
			}
			uid, err := newChainClient(url, kp).Register(cmd.Context(), kp.Address(), coldkey)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s as uid %d\n", kp.Address(), uid)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9944", "the chain's address")
	keysFlags(cmd, &name, &dir)
	cmd.Flags().StringVar(&coldkey, "coldkey", "", "SS58 address of the owning coldkey (default: the hotkey itself)")
	return cmd
}

func newChainStakeCmd() *cobra.Command {
	var url, name, dir string
	var amount float64
	cmd := &cobra.Command{
		Use:   "stake",
		Short: "Add stake to a key's hotkey on a running chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kp, err := loadKey(dir, name)
			if err != nil {
				return err
			}
			if err := newChainClient(url, kp).AddStake(cmd.Context(), kp.Address(), amount); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "staked %g TAO to %s\n", amount, kp.Address())
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9944", "the chain's address")
	keysFlags(cmd, &name, &dir)
	cmd.Flags().Float64Var(&amount, "amount", 0, "TAO to stake")
	return cmd
}
