package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

func init() { register(newTournamentsCmd) }

func newTournamentsCmd() *cobra.Command {
	var f customerFlags
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
	f.bind(cmd)
	cmd.AddCommand(newTournamentsListCmd(&f), newTournamentsShowCmd(&f), newTournamentsWatchCmd(&f),
		newTournamentsAnnounceCmd(&f), newTournamentsSeedCmd(&f))
	return cmd
}

// reader is a client for reading public resources: the saved key is used
// when there is one, none is needed.
func (f *customerFlags) reader() *api.Client {
	if c, err := f.client(); err == nil {
		return c
	}
	return api.NewClient(f.serverURL(), "")
}

func newTournamentsListCmd(f *customerFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tournaments, newest first, and the champion",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.reader().Tournaments(cmd.Context(), limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, l)
			}
			if c := l.Champion; c != nil {
				fmt.Fprintf(out, "champion: %s (%s), %d win(s) in a row\n\n", c.Hotkey, c.Method, c.Wins)
			} else {
				fmt.Fprintln(out, "no champion yet")
			}
			if len(l.Tournaments) == 0 {
				fmt.Fprintln(out, "no tournaments yet")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TOURNAMENT\tSTATUS\tROUND\tDEFENDER\tCHALLENGER\tCHAMPION AFTER\tCREATED")
			for _, t := range l.Tournaments {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", t.ID, t.Status, t.Round, orDash(shortKey(t.Defender)),
					orDash(shortKey(t.Challenger)), orDash(shortKey(t.Winner)), t.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many tournaments")
	return cmd
}

func newTournamentsShowCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show TOURNAMENT",
		Short: "Show a tournament: its entries and bracket, each task's results and margins",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := f.reader().Tournament(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			printTournament(cmd.OutOrStdout(), d)
			return nil
		},
	}
}

func newTournamentsWatchCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "watch TOURNAMENT",
		Short: "Follow a tournament live, then show its bracket",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.reader()
			out := cmd.OutOrStdout()
			status, err := c.WatchTournament(cmd.Context(), args[0], 0, func(e *crucible.TournamentEvent) error {
				if f.json {
					b, _ := json.Marshal(e)
					_, err := fmt.Fprintf(out, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintf(out, "%s  %-8s %s\n", e.CreatedAt.Local().Format(time.TimeOnly), e.Kind, e.Message)
				return err
			})
			if err != nil {
				return err
			}
			if f.json {
				return nil
			}
			fmt.Fprintf(out, "\ntournament %s\n\n", status)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := c.Tournament(ctx, args[0])
			if err != nil {
				return err
			}
			printTournament(out, d)
			return nil
		},
	}
}

func newTournamentsAnnounceCmd(f *customerFlags) *cobra.Command {
	var settings string
	cmd := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if settings == "" {
				return crucible.Errorf(crucible.EINVALID, "--settings FILE is required")
			}
			b, err := os.ReadFile(settings)
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "read %s", settings)
			}
			s := crucible.DefaultTournamentSettings() // what the file leaves out
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				return crucible.Errorf(crucible.EINVALID, "%s: %v", settings, err)
			}
			s.DefaultTypes()
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.AnnounceTournament(cmd.Context(), s)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tournament %s announced: entries close at %s\nfollow it with: crucible tournaments watch %s\n",
				t.ID, t.EntriesClose.Local().Format(time.DateTime), t.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&settings, "settings", "", "JSON file of the tournament's settings")
	return cmd
}

func newTournamentsSeedCmd(f *customerFlags) *cobra.Command {
	var req api.SeedChampionRequest
	cmd := &cobra.Command{
		Use:   "seed-champion",
		Short: "Make a miner the champion of a network that has none (admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ch, err := c.SeedChampion(cmd.Context(), req)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), ch)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "champion: %s (%s)\n", ch.Hotkey, ch.Method)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Hotkey, "hotkey", "", "the miner's SS58 hotkey")
	fl.StringVar(&req.Method.Strategy, "strategy", "", "its method's strategy (e.g. auto)")
	fl.StringVar(&req.Method.Version, "version", "", "its method's version")
	fl.StringVar(&req.Method.Image, "image", "", "its trainer's container image digest")
	fl.StringVar(&req.Method.Commit, "commit", "", "its trainer's repository commit")
	return cmd
}

// printTournament writes a tournament: its state, entries and bracket.
func printTournament(w io.Writer, d *api.TournamentDetail) {
	t := d.Tournament
	fmt.Fprintf(w, "tournament %s: %s", t.ID, t.Status)
	if t.Status == crucible.TournamentRunning {
		fmt.Fprintf(w, ", round %d", t.Round)
	}
	fmt.Fprintln(w)
	if t.Defender != "" {
		fmt.Fprintf(w, "defender   %s (%d win(s) in a row; a challenger must beat it by more than %.1f%% on a boss task)\n", t.Defender, t.DefenderWins, 100*d.Threshold)
	}
	if t.Failure != "" {
		fmt.Fprintf(w, "failure    %s\n", t.Failure)
	}
	fmt.Fprintf(w, "\nentries (%d):\n", len(d.Entries))
	for _, e := range d.Entries {
		fee := ""
		if e.Fee > 0 {
			fee = fmt.Sprintf(", fee %g TAO at block %d", e.Fee, e.FeeBlock)
		}
		fmt.Fprintf(w, "  %s  %s (%.12s…)%s\n", e.Hotkey, e.Method, e.MethodHash, fee)
	}
	round := 0
	for _, m := range d.Matches {
		if m.Round != round {
			round = m.Round
			fmt.Fprintf(w, "\nround %d · %s\n", round, map[crucible.MatchKind]string{crucible.MatchGroup: "group stage", crucible.MatchPair: "knockout", crucible.MatchBoss: "boss round"}[m.Kind])
		}
		title := fmt.Sprintf("%s %d", m.Kind, m.Index+1)
		if m.Kind == crucible.MatchBoss {
			title = "boss"
		}
		if len(m.Members) == 1 && m.Kind == crucible.MatchPair {
			fmt.Fprintf(w, "  %-8s %s: bye\n", title, shortKey(m.Members[0]))
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", title, strings.Join(shortKeys(m.Members), " vs "))
		for k, mt := range m.Tasks {
			var parts []string
			for _, r := range mt.Results {
				switch {
				case r.Loss != nil:
					parts = append(parts, fmt.Sprintf("%s %.4f", shortKey(r.Hotkey), *r.Loss))
				case r.Reward != nil:
					parts = append(parts, fmt.Sprintf("%s reward %.4f", shortKey(r.Hotkey), *r.Reward))
				default:
					parts = append(parts, fmt.Sprintf("%s failed", shortKey(r.Hotkey)))
				}
			}
			line := fmt.Sprintf("    task %d %-8s %s", k+1, mt.Type, strings.Join(parts, "  "))
			if mt.Done {
				line += "  → " + orDash(shortKey(mt.Winner))
				if mt.Note != "" {
					line += " (" + mt.Note + ")"
				}
			} else {
				line += " (playing)"
			}
			fmt.Fprintln(w, line)
		}
		if m.Done {
			fmt.Fprintf(w, "    %s\n", m.Note)
		}
	}
	if t.Status == crucible.TournamentFinished {
		switch {
		case t.Winner == "":
			fmt.Fprintln(w, "\nno champion: every entrant failed")
		case t.Winner == t.Defender:
			fmt.Fprintf(w, "\nchampion: %s keeps the title\n", t.Winner)
		default:
			fmt.Fprintf(w, "\nchampion: %s\n", t.Winner)
		}
	}
}

func shortKeys(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = shortKey(h)
	}
	return out
}
