package console

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// PrintTournaments writes the champion and the tournaments as a table.
func PrintTournaments(out io.Writer, l *api.TournamentList) error {
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
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", t.ID, t.Status, t.Round, OrDash(ShortKey(t.Defender)),
			OrDash(ShortKey(t.Challenger)), OrDash(ShortKey(t.Winner)), t.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// PrintTournamentEvent writes one event of a followed tournament.
func PrintTournamentEvent(out io.Writer, e *crucible.TournamentEvent, asJSON bool) error {
	if asJSON {
		b, _ := json.Marshal(e)
		_, err := fmt.Fprintf(out, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(out, "%s  %-8s %s\n", e.CreatedAt.Local().Format(time.TimeOnly), e.Kind, e.Message)
	return err
}

// ReadTournamentSettings reads a tournament's settings from a JSON file;
// what the file leaves out is Gradients' rule
// (crucible.DefaultTournamentSettings). An unknown field is an error.
func ReadTournamentSettings(path string) (crucible.TournamentSettings, error) {
	s := crucible.DefaultTournamentSettings()
	if path == "" {
		return s, crucible.Errorf(crucible.EINVALID, "--settings FILE is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, crucible.Wrap(err, crucible.EINVALID, "read %s", path)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, crucible.Errorf(crucible.EINVALID, "%s: %v", path, err)
	}
	s.DefaultTypes()
	return s, nil
}

// PrintTournament writes a tournament: its state, entries and bracket.
func PrintTournament(w io.Writer, d *api.TournamentDetail) {
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
			fmt.Fprintf(w, "  %-8s %s: bye\n", title, ShortKey(m.Members[0]))
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", title, strings.Join(shortKeys(m.Members), " vs "))
		for k, mt := range m.Tasks {
			var parts []string
			for _, r := range mt.Results {
				switch {
				case r.Loss != nil:
					parts = append(parts, fmt.Sprintf("%s %.4f", ShortKey(r.Hotkey), *r.Loss))
				case r.Reward != nil:
					parts = append(parts, fmt.Sprintf("%s reward %.4f", ShortKey(r.Hotkey), *r.Reward))
				default:
					parts = append(parts, fmt.Sprintf("%s failed", ShortKey(r.Hotkey)))
				}
			}
			line := fmt.Sprintf("    task %d %-8s %s", k+1, mt.Type, strings.Join(parts, "  "))
			if mt.Done {
				line += "  → " + OrDash(ShortKey(mt.Winner))
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
		out[i] = ShortKey(h)
	}
	return out
}
