package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
)

func init() { register(newTournamentsCmd) }

func newTournamentsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tournaments",
		Short: "List, show and follow a validator's tournaments and champions",
		Long: `tournaments talks to a validator's API about its tournaments: miners enter with
their training method, play a group stage (when many enter) and knockout pairs
on tasks the validator sets, and the bracket's winner must beat the defending
champion by a margin on most tasks of the boss round. Customers' tasks are then
trained by the champion's miner.

Reading needs no API key. Admins announce tournaments (settings in a JSON file,
the fields of GET /v1/openapi.json's TournamentSettings) and seed the first
champion.`,
		Example: `  crucible tournaments list
  crucible tournaments show TOURNAMENT
  crucible tournaments watch TOURNAMENT
  crucible tournaments announce --settings tournament.json
  crucible tournaments seed-champion --hotkey 5F... --strategy auto`,
	}
	var list TournamentsListConfig
	config.Defaults(&list)
	listCmd := connected(&cobra.Command{Use: "list", Short: "List tournaments, newest first, and the champion", Args: cobra.NoArgs},
		&list, &list.Conn, func(cmd *cobra.Command, cfg *TournamentsListConfig, _ []string) error {
			l, err := cfg.Reader().Tournaments(cmd.Context(), cfg.Limit)
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), l, func(w io.Writer) error { return console.PrintTournaments(w, l) })
		})
	var show console.Conn
	showCmd := connected(&cobra.Command{Use: "show TOURNAMENT", Short: "Show a tournament: its entries and bracket, each task's results and margins", Args: cobra.ExactArgs(1)},
		&show, &show, func(cmd *cobra.Command, conn *console.Conn, args []string) error {
			d, err := conn.Reader().Tournament(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return conn.Print(cmd.OutOrStdout(), d, func(w io.Writer) error { console.PrintTournament(w, d); return nil })
		})
	var watch console.Conn
	watchCmd := connected(&cobra.Command{Use: "watch TOURNAMENT", Short: "Follow a tournament live, then show its bracket", Args: cobra.ExactArgs(1)},
		&watch, &watch, func(cmd *cobra.Command, conn *console.Conn, args []string) error {
			c, out := conn.Reader(), cmd.OutOrStdout()
			status, err := c.WatchTournament(cmd.Context(), args[0], 0, func(e *crucible.TournamentEvent) error {
				return console.PrintTournamentEvent(out, e, conn.JSON)
			})
			if err != nil || conn.JSON {
				return err
			}
			fmt.Fprintf(out, "\ntournament %s\n\n", status)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := c.Tournament(ctx, args[0])
			if err != nil {
				return err
			}
			console.PrintTournament(out, d)
			return nil
		})
	var announce TournamentsAnnounceConfig
	announceCmd := connected(&cobra.Command{
		Use:   "announce",
		Short: "Announce a tournament (admins): its rules and task pool from a JSON file",
		Long: `announce announces a tournament with the settings in a JSON file (the fields of
TournamentSettings in GET /v1/openapi.json). What the file leaves out is
Gradients' rule: at least 8 entrants, knockout pairs up to 14, groups of about
32 (at least 20) whose best 8 go on, one task per group and pair, six in the
boss round, 2 hours a task, no fee, entries open for an hour; the group stage
plays instruct tasks, knockout pairs and the boss round every type of the
pool. The pool is required: e.g.

  {"pool": [{"type": "instruct", "model": "crucible-tiny", "dataset": "/data/facts.jsonl"},
            {"type": "dpo", "model": "crucible-tiny", "dataset": "/data/facts_dpo.jsonl"}],
   "min_entrants": 2, "boss_tasks": 3, "hours": 0.5}`,
		Example: `  crucible tournaments announce --settings tournament.json`,
		Args:    cobra.NoArgs,
	}, &announce, &announce.Conn, func(cmd *cobra.Command, cfg *TournamentsAnnounceConfig, _ []string) error {
		s, err := console.ReadTournamentSettings(cfg.Settings)
		if err != nil {
			return err
		}
		c, err := cfg.Client()
		if err != nil {
			return err
		}
		t, err := c.AnnounceTournament(cmd.Context(), s)
		if err != nil {
			return err
		}
		return cfg.Print(cmd.OutOrStdout(), t, func(w io.Writer) error {
			return printf(w, "tournament %s announced: entries close at %s\nfollow it with: crucible tournaments watch %s\n",
				t.ID, t.EntriesClose.Local().Format(time.DateTime), t.ID)
		})
	})
	var seed TournamentsSeedConfig
	seedCmd := connected(&cobra.Command{Use: "seed-champion", Short: "Make a miner the champion of a network that has none (admins)", Args: cobra.NoArgs},
		&seed, &seed.Conn, func(cmd *cobra.Command, cfg *TournamentsSeedConfig, _ []string) error {
			c, err := cfg.Client()
			if err != nil {
				return err
			}
			ch, err := c.SeedChampion(cmd.Context(), api.SeedChampionRequest{Hotkey: cfg.Hotkey,
				Method: crucible.Method{Strategy: cfg.Strategy, Version: cfg.Version, Image: cfg.Image, Commit: cfg.Commit}})
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), ch, func(w io.Writer) error { return printf(w, "champion: %s (%s)\n", ch.Hotkey, ch.Method) })
		})
	cmd.AddCommand(listCmd, showCmd, watchCmd, announceCmd, seedCmd)
	return cmd
}

// TournamentsListConfig configures "crucible tournaments list". Each
// field's doc comment is its documentation (package config).
type TournamentsListConfig struct {
	console.Conn
	// Limit lists at most this many tournaments. Defaults to `20`.
	Limit int `flag:"limit"`
}

// TournamentsAnnounceConfig configures "crucible tournaments announce".
type TournamentsAnnounceConfig struct {
	console.Conn
	// Settings is the JSON file of the tournament's settings.
	Settings string `flag:"settings"`
}

// TournamentsSeedConfig configures "crucible tournaments seed-champion".
type TournamentsSeedConfig struct {
	console.Conn
	// Hotkey is the miner's SS58 hotkey.
	Hotkey string `flag:"hotkey"`
	// Strategy is its method's strategy (e.g. auto).
	Strategy string `flag:"strategy"`
	// Version is its method's version.
	Version string `flag:"version"`
	// Image is its trainer's container image digest.
	Image string `flag:"image"`
	// Commit is its trainer's repository commit.
	Commit string `flag:"commit"`
}
