package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node"
)

func init() { register(newKeysCmd) }

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, import and show sr25519 hotkeys (Bittensor-compatible)",
		Long: `Keys identify crucible nodes. They are sr25519 keys with SS58 addresses, made
and derived exactly as Bittensor and Substrate make them, stored as JSON files
(mode 0600) in the Bittensor key file layout, one per name, in
$CRUCIBLE_HOME/keys or ~/.crucible/keys.`,
	}
	cmd.AddCommand(newKeysNewCmd(), newKeysShowCmd(), newKeysImportCmd(), newKeysListCmd())
	return cmd
}

func newKeysNewCmd() *cobra.Command {
	var cfg node.KeysNewConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "new", Short: "Create a key and print its address and mnemonic (shown only this once)", Args: cobra.NoArgs}
	return cli.Run(cmd, &cfg, func(_ context.Context, cfg *node.KeysNewConfig) error {
		path, kp, phrase, err := cfg.New()
		if err != nil {
			return err
		}
		return printf(cmd.OutOrStdout(), "key:      %s\naddress:  %s\nmnemonic: %s\n%s\n", path, kp.Address(), phrase,
			"Write the mnemonic down and keep it secret: it is the only way to restore this key.")
	})
}

func newKeysImportCmd() *cobra.Command {
	var cfg node.KeysImportConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import a key from a mnemonic (or 0x seed), optionally derived (--derive //hot)",
		Long: `Import a key from a mnemonic given with --mnemonic or, without it, read from
standard input (first line). A 0x-prefixed 32-byte hex seed works too, and so
does a full secret URI ("PHRASE//hard/soft///password"). --derive appends a
derivation path; "--mnemonic '' --derive //Alice" is the development key Alice.`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(_ context.Context, cfg *node.KeysImportConfig) error {
		mnemonic := cfg.Mnemonic
		if !cmd.Flags().Changed("mnemonic") {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read mnemonic from stdin: %w", err)
			}
			mnemonic = line
		}
		path, kp, err := cfg.Import(mnemonic)
		if err != nil {
			return err
		}
		return printf(cmd.OutOrStdout(), "key:      %s\naddress:  %s\n", path, kp.Address())
	})
}

func newKeysShowCmd() *cobra.Command {
	var cfg node.KeyConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "show [NAME]", Short: "Print a key's address and public key", Args: cobra.MaximumNArgs(1)}
	load := cli.Bind(cmd, &cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		if len(args) == 1 {
			cfg.Name = args[0]
		}
		kp, err := cfg.Load()
		if err != nil {
			return err
		}
		pub := kp.PublicKey()
		return printf(cmd.OutOrStdout(), "address:    %s\npublic key: 0x%s\n", kp.Address(), hex.EncodeToString(pub[:]))
	}
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var cfg node.KeysListConfig
	cmd := &cobra.Command{Use: "list", Short: "List the keys in the key directory", Args: cobra.NoArgs}
	return cli.Run(cmd, &cfg, func(_ context.Context, cfg *node.KeysListConfig) error {
		keys, err := node.ListKeys(cfg.Dir)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			dir := cfg.Dir
			if dir == "" {
				dir = node.KeysDir()
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "no keys in %s (create one with: crucible keys new)\n", dir)
			return nil
		}
		w := cmd.OutOrStdout()
		for _, k := range keys {
			if k.Err != nil {
				fmt.Fprintf(w, "%-20s (unreadable: %v)\n", k.Name, k.Err)
				continue
			}
			fmt.Fprintf(w, "%-20s %s\n", k.Name, k.Key.Address())
		}
		return nil
	})
}
