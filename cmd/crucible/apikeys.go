package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/spf13/cobra"
)

func init() { register(newAPIKeysCmd) }

func newAPIKeysCmd() *cobra.Command {
	var f customerFlags
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
	f.bind(cmd)
	cmd.AddCommand(newAPIKeysCreateCmd(&f), newAPIKeysListCmd(&f), newAPIKeysRevokeCmd(&f), newAPIKeysBalanceCmd(&f), newAPIKeysCreditCmd(&f))
	return cmd
}

func newAPIKeysCreateCmd(f *customerFlags) *cobra.Command {
	var req api.CreateKeyRequest
	var save bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API key (admins: for a new account with --account)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ck, err := c.CreateKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if save {
				path := apiKeyFile()
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					return fmt.Errorf("save API key: %w", err)
				}
				if err := os.WriteFile(path, []byte(ck.Secret+"\n"), 0o600); err != nil {
					return fmt.Errorf("save API key: %w", err)
				}
				if err := os.WriteFile(apiServerFile(), []byte(f.serverURL()+"\n"), 0o600); err != nil {
					return fmt.Errorf("save API server: %w", err)
				}
			}
			if f.json {
				return printJSON(out, ck)
			}
			fmt.Fprintf(out, "key %s (%s…) for account %s\n%s\n", ck.Key.ID, ck.Key.Prefix, ck.Key.AccountID, ck.Secret)
			if save {
				fmt.Fprintf(out, "saved to %s with the server %s; crucible tasks uses both from now on\n", apiKeyFile(), f.serverURL())
			} else {
				fmt.Fprintln(out, "the secret is shown only now; keep it (or pass --save)")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Name, "name", "", "a name to tell the key apart")
	fl.StringVar(&req.AccountName, "account", "", "admins: create a new account with this name and give it the key")
	fl.BoolVar(&req.Admin, "admin", false, "admins: the new account is an admin")
	fl.IntVar(&req.RateLimit, "rate-limit", 0, "requests a minute this key may make; 0 for the server's default (above it: admins only)")
	fl.Float64Var(&req.CreditLimit, "credit-limit", 0, "admins: the new account's credit limit in the validator's currency (0: none)")
	fl.BoolVar(&save, "save", false, "save the secret in $CRUCIBLE_HOME/api_key and the server's URL in $CRUCIBLE_HOME/api_server for later commands")
	return cmd
}

func newAPIKeysListCmd(f *customerFlags) *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			keys, err := c.Keys(cmd.Context(), account)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, keys)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tCREATED\tLAST USED\tREVOKED")
			when := func(t *time.Time) string {
				if t == nil {
					return "-"
				}
				return t.Local().Format("2006-01-02 15:04")
			}
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, orDash(k.Name), when(&k.CreatedAt), when(k.LastUsedAt), when(k.RevokedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "admins: list this account's keys (by id)")
	return cmd
}

func newAPIKeysRevokeCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key; requests with it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.RevokeKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"revoked": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
}

func newAPIKeysBalanceCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "balance",
		Short: "Your account's credit: its limit, what your tasks have cost, what is left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			b, err := c.Balance(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, b)
			}
			if b.Left == nil {
				fmt.Fprintf(out, "account %s: no credit limit; tasks have cost %.2f\n", b.Account.Name, b.Spent)
				return nil
			}
			fmt.Fprintf(out, "account %s: %.2f left of a %.2f limit (tasks have cost %.2f)\n", b.Account.Name, *b.Left, b.CreditLimit, b.Spent)
			return nil
		},
	}
}

func newAPIKeysCreditCmd(f *customerFlags) *cobra.Command {
	var limit float64
	cmd := &cobra.Command{
		Use:   "credit ACCOUNT_ID --limit N",
		Short: "Admins: set an account's credit limit (0: none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("limit") {
				return crucible.Errorf(crucible.EINVALID, "--limit is required (0 removes the limit)")
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			b, err := c.SetCredit(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), b)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account %s: credit limit %.2f, tasks have cost %.2f\n", b.Account.Name, b.CreditLimit, b.Spent)
			return nil
		},
	}
	cmd.Flags().Float64Var(&limit, "limit", 0, "the credit limit in the validator's currency; 0 for none")
	return cmd
}
