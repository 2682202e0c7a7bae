// Package console is the client side of crucible's command line: what the
// customer commands (tasks, apikeys, webhooks, tournaments) do between
// their flags and a validator's API, and how every command shows its work
// on a terminal. It owns reaching a validator (the server and API key from
// settings, the environment or the files "apikeys create --save" writes),
// the task creation flow (local datasets packed and uploaded, resumable
// for big files; estimate; create), following a task live (one progress
// bar per miner on a terminal, plain lines elsewhere), the tables and
// reports the commands print, downloads and pushes of winners, and the
// progress displays of training and file transfers.
//
// It talks to a validator only through package api's client, and imports
// no node, store or engine package: cmd/crucible binds its Config structs
// to flags and calls it.
package console

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// DefaultServer is the validator a customer command talks to when neither
// a setting nor a saved server says otherwise.
const DefaultServer = "http://127.0.0.1:8090"

// Conn is how a customer command reaches a validator: the settings every
// customer command shares. Home is not a setting: the caller sets it to the
// state directory ($CRUCIBLE_HOME) where a saved key and server live.
type Conn struct {
	// Server is the validator's URL; empty means the server saved with the
	// key, else http://127.0.0.1:8090.
	Server string `flag:"server"`
	// Key is the API key; empty means $CRUCIBLE_API_KEY, else the key saved
	// in $CRUCIBLE_HOME/api_key.
	Key string `flag:"key"`
	// JSON prints JSON instead of text.
	JSON bool `flag:"json"`

	Home string `json:"-"`
}

// KeyFile is where "crucible apikeys create --save" keeps a key.
func (c *Conn) KeyFile() string { return filepath.Join(c.Home, "api_key") }

// ServerFile is where "crucible apikeys create --save" keeps the URL of the
// validator the saved key belongs to.
func (c *Conn) ServerFile() string { return filepath.Join(c.Home, "api_server") }

// ServerURL is the validator to talk to: the setting, the server saved with
// the key, or DefaultServer, in that order.
func (c *Conn) ServerURL() string {
	saved := ""
	if b, err := os.ReadFile(c.ServerFile()); err == nil {
		saved = strings.TrimSpace(string(b))
	}
	for _, s := range []string{c.Server, saved} {
		if s != "" {
			return strings.TrimRight(s, "/")
		}
	}
	return DefaultServer
}

// Client returns an API client with the key of the setting,
// CRUCIBLE_API_KEY or the saved key file, in that order; EUNAUTHORIZED with
// a hint when there is none.
func (c *Conn) Client() (*api.Client, error) {
	key := c.Key
	if key == "" {
		key = os.Getenv("CRUCIBLE_API_KEY")
	}
	if key == "" {
		b, err := os.ReadFile(c.KeyFile())
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("read API key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "no API key").
			WithHint("pass --key, set CRUCIBLE_API_KEY, or save one with: crucible apikeys create --save (the validator prints an admin key on its first start)")
	}
	return api.NewClient(c.ServerURL(), key), nil
}

// Reader is a client for reading public resources: it carries the key when
// there is one; none is needed.
func (c *Conn) Reader() *api.Client {
	if cl, err := c.Client(); err == nil {
		return cl
	}
	return api.NewClient(c.ServerURL(), "")
}

// SaveKey keeps secret and the server's URL in the state directory for
// later commands.
func (c *Conn) SaveKey(secret string) error {
	if err := os.MkdirAll(c.Home, 0o700); err != nil {
		return fmt.Errorf("save API key: %w", err)
	}
	if err := os.WriteFile(c.KeyFile(), []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("save API key: %w", err)
	}
	if err := os.WriteFile(c.ServerFile(), []byte(c.ServerURL()+"\n"), 0o600); err != nil {
		return fmt.Errorf("save API server: %w", err)
	}
	return nil
}

// Print writes v as indented JSON when the connection asks for JSON, else
// what text writes.
func (c *Conn) Print(w io.Writer, v any, text func(io.Writer) error) error {
	if c.JSON {
		return PrintJSON(w, v)
	}
	return text(w)
}

// PrintJSON writes v indented.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// HumanInt writes 1234567 as 1.2M.
func HumanInt(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// OrDash is s, or "-" when it is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ShortKey shortens an SS58 hotkey or a hash to its ends.
func ShortKey(h string) string {
	if len(h) <= 12 {
		return h
	}
	return h[:5] + "…" + h[len(h)-5:]
}

// ShortID is the first eight characters of a task ID, which commands
// accept in place of the whole.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func fmtPtr(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

// IsTerminal reports whether w is a terminal that takes colours.
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ColorReport colours the result line and the error list of a text report
// (data check's).
func ColorReport(s string, color bool) string {
	if !color {
		return s
	}
	const red, green, yellow, bold, reset = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[1m", "\x1b[0m"
	lines := strings.Split(s, "\n")
	section := ""
	for i, l := range lines {
		if l != "" && l[0] != ' ' {
			section, _, _ = strings.Cut(l, " ")
			lines[i] = bold + section + reset + l[len(section):]
		}
		switch {
		case section == "result" && strings.HasSuffix(l, " ok"):
			lines[i] = strings.TrimSuffix(lines[i], "ok") + green + "ok" + reset
		case section == "result" && strings.HasPrefix(l, "  "):
			lines[i] = red + l + reset
		case section == "warnings" && strings.HasPrefix(l, "  "):
			lines[i] = yellow + l + reset
		}
	}
	return strings.Join(lines, "\n")
}
