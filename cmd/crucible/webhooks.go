package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { register(newWebhooksCmd) }

func newWebhooksCmd() *cobra.Command {
	var f customerFlags
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
	f.bind(cmd)
	var url string
	create := &cobra.Command{
		Use:   "create --url URL",
		Short: "Add a webhook; its signing secret is shown once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "url"); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			cw, err := c.CreateWebhook(cmd.Context(), url)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, cw)
			}
			fmt.Fprintf(out, "webhook %s for %s\nsigning secret (shown only now): %s\n", cw.Webhook.ID, cw.Webhook.URL, cw.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&url, "url", "", "the endpoint, http(s)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List your webhooks (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			hs, err := c.Webhooks(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, hs)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tSECRET\tADDED")
			for _, h := range hs {
				fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\n", h.ID, h.URL, h.Prefix, h.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	var limit int
	deliveries := &cobra.Command{
		Use:   "deliveries WEBHOOK_ID",
		Short: "A webhook's delivery log, newest first: each message, its attempts and the last answer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ds, err := c.WebhookDeliveries(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, ds)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tTYPE\tTASK\tSTATE\tTRIES\tLAST ANSWER")
			for _, d := range ds {
				last := orDash(d.LastError)
				if d.LastStatus != 0 && d.LastError == "" {
					last = fmt.Sprint(d.LastStatus)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.CreatedAt.Local().Format("2006-01-02 15:04:05"), d.Type, orDash(shortID(d.TaskID)), d.State, d.Attempts, last)
			}
			return tw.Flush()
		},
	}
	deliveries.Flags().IntVar(&limit, "limit", 50, "at most this many")
	ping := &cobra.Command{
		Use:   "ping WEBHOOK_ID",
		Short: "Send a test message to a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.PingWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "test message %s queued; see: crucible webhooks deliveries %s\n", d.ID, args[0])
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "delete WEBHOOK_ID",
		Short: "Delete a webhook and its delivery log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted webhook %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, deliveries, ping, del)
	return cmd
}
