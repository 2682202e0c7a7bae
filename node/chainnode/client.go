package chainnode

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/crucible-net/crucible/node"
)

// ClientConfig reaches a running chain (crucible chain metagraph). Each
// field's doc comment is its documentation (package config).
type ClientConfig struct {
	// URL is the chain's address. Defaults to `http://127.0.0.1:9944`.
	URL string `flag:"url"`
}

// RegisterConfig configures "crucible chain register".
type RegisterConfig struct {
	ClientConfig
	node.KeyConfig
	// Coldkey is the SS58 address of the owning coldkey; empty means the
	// hotkey itself.
	Coldkey string `flag:"coldkey"`
}

// StakeConfig configures "crucible chain stake".
type StakeConfig struct {
	ClientConfig
	node.KeyConfig
	// Amount is the TAO to stake.
	Amount float64 `flag:"amount"`
}

// PrintMetagraph writes the metagraph of the chain at cfg.URL as a table.
func PrintMetagraph(ctx context.Context, cfg ClientConfig, out io.Writer) error {
	m, err := node.NewChainClient(cfg.URL).Metagraph(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
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
}

// Register registers the key's hotkey on the chain at cfg.URL and says so
// on out.
func Register(ctx context.Context, cfg RegisterConfig, out io.Writer) error {
	kp, err := cfg.Load()
	if err != nil {
		return err
	}
	coldkey := cfg.Coldkey
	if coldkey == "" {
		coldkey = kp.Address()
	}
	uid, err := node.NewChainClient(cfg.URL, kp).Register(ctx, kp.Address(), coldkey)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "registered %s as uid %d\n", kp.Address(), uid)
	return err
}

// Stake adds cfg.Amount of stake to the key's hotkey and says so on out.
func Stake(ctx context.Context, cfg StakeConfig, out io.Writer) error {
	kp, err := cfg.Load()
	if err != nil {
		return err
	}
	if err := node.NewChainClient(cfg.URL, kp).AddStake(ctx, kp.Address(), cfg.Amount); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "staked %g TAO to %s\n", cfg.Amount, kp.Address())
	return err
}
