package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
)

func init() { register(newWebhooksCmd) }

func newWebhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Tell an endpoint of yours about your tasks: add, list, test and delete webhooks, read their delivery log",
		Long: `A webhook receives a JSON POST for every status change of your account's
tasks, signed with its secret: the header Crucible-Signature is
"t=UNIX,v1=HEX", HEX being HMAC-SHA256(secret, "UNIX." + body). Check it
and refuse old timestamps. A message your endpoint does not answer with
2xx is tried again, waiting longer each time; the delivery log shows every
message with its attempts and the last answer. The validator refuses URLs
that lead to internal addresses unless its operator allows them.`,
		Example: `  crucible webhooks create --url https://example.com/crucible-hook
  crucible webhooks list
  crucible webhooks ping WEBHOOK_ID
  crucible webhooks deliveries WEBHOOK_ID`,
	}
	var create WebhooksCreateConfig
	createCmd := connected(&cobra.Command{Use: "create --url URL", Short: "Add a webhook; its signing secret is shown once", Args: cobra.NoArgs},
		&create, &create.Conn, func(cmd *cobra.Command, cfg *WebhooksCreateConfig, _ []string) error {
			if err := cli.Require(cmd, "url"); err != nil {
				return err
			}
			c, err := cfg.Client()
			if err != nil {
				return err
			}
			cw, err := c.CreateWebhook(cmd.Context(), cfg.URL)
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), cw, func(w io.Writer) error {
				return printf(w, "webhook %s for %s\nsigning secret (shown only now): %s\n", cw.Webhook.ID, cw.Webhook.URL, cw.Secret)
			})
		})
	list := call(&cobra.Command{Use: "list", Short: "List your webhooks (never their secrets)", Args: cobra.NoArgs},
		func(ctx context.Context, c *api.Client, _ []string) ([]*crucible.Webhook, error) {
			return c.Webhooks(ctx)
		}, console.PrintWebhooks)
	var deliveries WebhooksDeliveriesConfig
	config.Defaults(&deliveries)
	deliveriesCmd := connected(&cobra.Command{Use: "deliveries WEBHOOK_ID", Short: "A webhook's delivery log, newest first: each message, its attempts and the last answer", Args: cobra.ExactArgs(1)},
		&deliveries, &deliveries.Conn, func(cmd *cobra.Command, cfg *WebhooksDeliveriesConfig, args []string) error {
			c, err := cfg.Client()
			if err != nil {
				return err
			}
			ds, err := c.WebhookDeliveries(cmd.Context(), args[0], cfg.Limit)
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), ds, func(w io.Writer) error { return console.PrintDeliveries(w, ds) })
		})
	ping := call(&cobra.Command{Use: "ping WEBHOOK_ID", Short: "Send a test message to a webhook", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *api.Client, args []string) (*crucible.WebhookDelivery, error) {
			return c.PingWebhook(ctx, args[0])
		},
		func(w io.Writer, d *crucible.WebhookDelivery) error {
			return printf(w, "test message %s queued; see: crucible webhooks deliveries %s\n", d.ID, d.WebhookID)
		})
	var del console.Conn
	delCmd := connected(&cobra.Command{Use: "delete WEBHOOK_ID", Short: "Delete a webhook and its delivery log", Args: cobra.ExactArgs(1)},
		&del, &del, func(cmd *cobra.Command, conn *console.Conn, args []string) error {
			c, err := conn.Client()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			return printf(cmd.OutOrStdout(), "deleted webhook %s\n", args[0])
		})
	cmd.AddCommand(createCmd, list, deliveriesCmd, ping, delCmd)
	return cmd
}

// WebhooksCreateConfig configures "crucible webhooks create". Each field's
// doc comment is its documentation (package config).
type WebhooksCreateConfig struct {
	console.Conn
	// URL is the endpoint, http(s).
	URL string `flag:"url"`
}

// WebhooksDeliveriesConfig configures "crucible webhooks deliveries".
type WebhooksDeliveriesConfig struct {
	console.Conn
	// Limit shows at most this many. Defaults to `50`.
	Limit int `flag:"limit"`
}
