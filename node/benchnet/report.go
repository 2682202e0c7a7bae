package benchnet

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes the report as a reader wants it: the setting, the overhead
// per task, the API's latency by route, memory before and after the load.
func (r *Report) Print(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "\nnetwork: a validator (%s, %d tasks in the store, seeded in %s) and %d simulated miners on loopback, in one process running Go code on %d threads (GOMAXPROCS: the CPUs and the validator's --spare-threads)\n",
		r.DB, c.StoreTasks+1+len(r.Tasks), r.Seeding.Round(time.Second), c.Miners, r.Threads)
	fmt.Fprintf(w, "tasks:   %d, one after another; overhead = offered → scored, less training and evaluation\n", len(r.Tasks))
	o := r.Overhead
	fmt.Fprintf(w, "         overhead per task: median %s, p90 %s, max %s (target < 1 s)\n", ms(o.P50), ms(o.P90), ms(o.Max))
	var off, round, score, train, eval time.Duration
	for _, t := range r.Tasks {
		off, round, score, train, eval = off+t.Start, round+t.Collect, score+t.Score, train+t.Training, eval+t.Evaluation
	}
	if n := time.Duration(len(r.Tasks)); n > 0 {
		fmt.Fprintf(w, "         mean phases: offer and start %s, collect %s, score %s; taken out: training %s, evaluation %s\n",
			ms(off/n), ms(round/n), ms(score/n), ms(train/n), ms(eval/n))
	}
	fmt.Fprintf(w, "load:    %d requests in %s (%.1f/s asked, %.1f/s sent), open loop\n",
		r.Sent, r.LoadFor.Round(time.Second), c.Rate, float64(r.Sent)/r.LoadFor.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\trequests\terrors\tp50\tp90\tp99\tmax\t")
	for _, name := range append(append([]string(nil), r.Routes...), "all") {
		p, errs := r.API[name], r.Errors[name]
		if name == "all" {
			for _, n := range r.Routes {
				errs += r.Errors[n]
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", name, p.Count, errs, msf(p.P50), msf(p.P90), msf(p.P99), msf(p.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.FirstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstErr)
	}
	fmt.Fprintf(w, "API p99 over all routes: %s (target < 50 ms)\n", msf(r.API["all"].P99))
	fmt.Fprintf(w, "memory:  the whole process (validator, chain, %d simulated miners, and the bench's records of %d tasks and %d requests), read between tasks after a collection\n",
		c.Miners, len(r.Tasks), r.Sent)
	fmt.Fprintf(w, "         resident %s before the load, %s after (%s later); Go heap in use %s → %s\n",
		mib(r.RSSStart), mib(r.RSSEnd), r.LoadFor.Round(time.Second), mib(int64(r.HeapStart)), mib(int64(r.HeapEnd)))
	if len(r.Memory) > 2 {
		var rss, heap []string
		for _, m := range r.Memory {
			rss, heap = append(rss, mibN(m.RSS)), append(heap, mibN(int64(m.Heap)))
		}
		fmt.Fprintf(w, "         every minute (MiB): resident %s; Go heap %s\n", strings.Join(rss, " "), strings.Join(heap, " "))
	}
	return nil
}

func msf(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// mibN is b in whole MiB, "?" where unknown.
func mibN(b int64) string {
	if b == 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func mib(b int64) string {
	if b == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}
