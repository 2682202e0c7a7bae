package console

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// CreateKeyConfig configures "crucible apikeys create". Each field's doc
// comment is its documentation (package config).
type CreateKeyConfig struct {
	Conn
	// Name is a name to tell the key apart.
	Name string `flag:"name"`
	// Account (admins) creates a new account with this name and gives it
	// the key.
	Account string `flag:"account"`
	// Admin (admins) makes the new account an admin.
	Admin bool `flag:"admin"`
	// RateLimit is the requests a minute this key may make; 0 means the
	// server's default (above it: admins only).
	RateLimit int `flag:"rate-limit"`
	// CreditLimit (admins) is the new account's credit limit in the
	// validator's currency; 0 means none.
	CreditLimit float64 `flag:"credit-limit"`
	// Save keeps the secret in $CRUCIBLE_HOME/api_key and the server's URL
	// in $CRUCIBLE_HOME/api_server for later commands.
	Save bool `flag:"save"`
}

// CreateKey is "crucible apikeys create": it creates the key, saves it
// when asked, and shows its secret once.
func CreateKey(cfg *CreateKeyConfig, ck *api.CreatedKey, out io.Writer) error {
	if cfg.Save {
		if err := cfg.SaveKey(ck.Secret); err != nil {
			return err
		}
	}
	return cfg.Print(out, ck, func(w io.Writer) error {
		fmt.Fprintf(w, "key %s (%s…) for account %s\n%s\n", ck.Key.ID, ck.Key.Prefix, ck.Key.AccountID, ck.Secret)
		if cfg.Save {
			fmt.Fprintf(w, "saved to %s with the server %s; crucible tasks uses both from now on\n", cfg.KeyFile(), cfg.ServerURL())
		} else {
			fmt.Fprintln(w, "the secret is shown only now; keep it (or pass --save)")
		}
		return nil
	})
}

// KeyRequest is the API request of the settings.
func (cfg *CreateKeyConfig) KeyRequest() api.CreateKeyRequest {
	return api.CreateKeyRequest{Name: cfg.Name, AccountName: cfg.Account, Admin: cfg.Admin, RateLimit: cfg.RateLimit, CreditLimit: cfg.CreditLimit}
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// PrintKeys writes API keys as a table (never their secrets).
func PrintKeys(out io.Writer, keys []*crucible.APIKey) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, OrDash(k.Name), when(&k.CreatedAt), when(k.LastUsedAt), when(k.RevokedAt))
	}
	return tw.Flush()
}

// PrintBalance writes an account's credit.
func PrintBalance(out io.Writer, b *api.AccountBalance) error {
	var err error
	if b.Left == nil {
		_, err = fmt.Fprintf(out, "account %s: no credit limit; tasks have cost %.2f\n", b.Account.Name, b.Spent)
	} else {
		_, err = fmt.Fprintf(out, "account %s: %.2f left of a %.2f limit (tasks have cost %.2f)\n", b.Account.Name, *b.Left, b.CreditLimit, b.Spent)
	}
	return err
}

// PrintWebhooks writes webhooks as a table (never their secrets).
func PrintWebhooks(out io.Writer, hs []*crucible.Webhook) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tSECRET\tADDED")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\n", h.ID, h.URL, h.Prefix, h.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// PrintDeliveries writes a webhook's delivery log as a table.
func PrintDeliveries(out io.Writer, ds []*crucible.WebhookDelivery) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tTYPE\tTASK\tSTATE\tTRIES\tLAST ANSWER")
	for _, d := range ds {
		last := OrDash(d.LastError)
		if d.LastStatus != 0 && d.LastError == "" {
			last = fmt.Sprint(d.LastStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.CreatedAt.Local().Format("2006-01-02 15:04:05"), d.Type, OrDash(ShortID(d.TaskID)), d.State, d.Attempts, last)
	}
	return tw.Flush()
}
