package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
)

func init() { register(newAPIKeysCmd) }

func newAPIKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikeys",
		Short: "Create, list and revoke API keys of a validator's customer API",
		Long: `apikeys manages the keys customers use with the validator's API and dashboard
(not the sr25519 hotkeys of nodes: see "crucible keys"). Keys are stored
hashed; a new key's secret is shown once. The validator prints an admin key
on its first start; admins create accounts with --account.`,
		Example: `  crucible apikeys create --key crk_ADMIN… --account alice --name laptop
  crucible apikeys create --name ci --save
  crucible apikeys list
  crucible apikeys revoke KEY_ID
  crucible apikeys balance`,
	}
	var create console.CreateKeyConfig
	createCmd := connected(&cobra.Command{Use: "create", Short: "Create an API key (admins: for a new account with --account)", Args: cobra.NoArgs},
		&create, &create.Conn, func(cmd *cobra.Command, cfg *console.CreateKeyConfig, _ []string) error {
			ctx := cmd.Context()
			c, err := cfg.Client()
			if err != nil {
				return err
			}
			ck, err := c.CreateKey(ctx, cfg.KeyRequest())
			if err != nil {
				return err
			}
			return console.CreateKey(cfg, ck, cmd.OutOrStdout())
		})
	var list APIKeysListConfig
	listCmd := connected(&cobra.Command{Use: "list", Short: "List your API keys (never their secrets)", Args: cobra.NoArgs},
		&list, &list.Conn, func(cmd *cobra.Command, cfg *APIKeysListConfig, _ []string) error {
			ctx := cmd.Context()
			c, err := cfg.Client()
			if err != nil {
				return err
			}
			keys, err := c.Keys(ctx, cfg.Account)
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), keys, func(w io.Writer) error { return console.PrintKeys(w, keys) })
		})
	revoke := call(&cobra.Command{Use: "revoke KEY_ID", Short: "Revoke an API key; requests with it are refused from now on", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *api.Client, args []string) (map[string]string, error) {
			return map[string]string{"revoked": args[0]}, c.RevokeKey(ctx, args[0])
		},
		func(w io.Writer, m map[string]string) error { return printf(w, "revoked %s\n", m["revoked"]) })
	balance := call(&cobra.Command{Use: "balance", Short: "Your account's credit: its limit, what your tasks have cost, what is left", Args: cobra.NoArgs},
		func(ctx context.Context, c *api.Client, _ []string) (*api.AccountBalance, error) {
			return c.Balance(ctx)
		}, console.PrintBalance)
	var credit APIKeysCreditConfig
	creditCmd := &cobra.Command{Use: "credit ACCOUNT_ID --limit N", Short: "Admins: set an account's credit limit (0: none)", Args: cobra.ExactArgs(1)}
	connected(creditCmd, &credit, &credit.Conn, func(cmd *cobra.Command, cfg *APIKeysCreditConfig, args []string) error {
		ctx := cmd.Context()
		if !cmd.Flags().Changed("limit") {
			return crucible.Errorf(crucible.EINVALID, "--limit is required (0 removes the limit)")
		}
		c, err := cfg.Client()
		if err != nil {
			return err
		}
		b, err := c.SetCredit(ctx, args[0], cfg.Limit)
		if err != nil {
			return err
		}
		return cfg.Print(cmd.OutOrStdout(), b, func(w io.Writer) error {
			return printf(w, "account %s: credit limit %.2f, tasks have cost %.2f\n", b.Account.Name, b.CreditLimit, b.Spent)
		})
	})
	cmd.AddCommand(createCmd, listCmd, revoke, balance, creditCmd)
	return cmd
}

// APIKeysListConfig configures "crucible apikeys list". Each field's doc
// comment is its documentation (package config).
type APIKeysListConfig struct {
	console.Conn
	// Account (admins) lists this account's keys (by id).
	Account string `flag:"account"`
}

// APIKeysCreditConfig configures "crucible apikeys credit".
type APIKeysCreditConfig struct {
	console.Conn
	// Limit is the credit limit in the validator's currency; 0 means none.
	Limit float64 `flag:"limit"`
}
