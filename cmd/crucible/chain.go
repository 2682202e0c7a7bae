package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/chainnode"
)

func init() { register(newChainCmd) }

func newChainCmd() *cobra.Command {
	cfg := chainnode.DefaultConfig()
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
	configured(cmd, &cfg, func(ctx context.Context, cfg *chainnode.Config) error {
		return chainnode.Run(ctx, *cfg, cmd.OutOrStdout())
	})
	cmd.AddCommand(newChainMetagraphCmd(), newChainRegisterCmd(), newChainStakeCmd())
	return cmd
}

func newChainMetagraphCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "metagraph",
		Short: "Print the metagraph of a running chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := node.NewChainClient(url).Metagraph(cmd.Context())
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
			uid, err := node.NewChainClient(url, kp).Register(cmd.Context(), kp.Address(), coldkey)
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
			if err := node.NewChainClient(url, kp).AddStake(cmd.Context(), kp.Address(), amount); err != nil {
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
