package benchnet

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
)

// route is one kind of customer request of the load.
type route struct {
	name string
	call func(ctx context.Context, c *api.Client, id string) error
}

// loadRoutes are what a customer reads, taken in turn: its task list, a
// task, its events and results (a random one of the store's), the network
// and its balance.
var loadRoutes = []route{
	{"GET /v1/tasks?limit=20", func(ctx context.Context, c *api.Client, _ string) error {
		_, err := c.Tasks(ctx, api.TaskQuery{Limit: 20})
		return err
	}},
	{"GET /v1/tasks/{id}", func(ctx context.Context, c *api.Client, id string) error {
		_, err := c.Task(ctx, id)
		return err
	}},
	{"GET /v1/tasks/{id}/events", func(ctx context.Context, c *api.Client, id string) error {
		_, err := c.Events(ctx, id, 0)
		return err
	}},
	{"GET /v1/tasks/{id}/results", func(ctx context.Context, c *api.Client, id string) error {
		_, err := c.Results(ctx, id)
		return err
	}},
	{"GET /v1/network", func(ctx context.Context, c *api.Client, _ string) error {
		_, err := c.Network(ctx)
		return err
	}},
	{"GET /v1/account", func(ctx context.Context, c *api.Client, _ string) error {
		_, err := c.Balance(ctx)
		return err
	}},
}

// latencies collects the time of each request by route.
type latencies struct {
	mu     sync.Mutex
	byName map[string][]time.Duration
	errors map[string]int
	first  error
}

func (l *latencies) add(name string, d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byName == nil {
		l.byName, l.errors = map[string][]time.Duration{}, map[string]int{}
	}
	if err != nil {
		l.errors[name]++
		if l.first == nil {
			l.first = err
		}
		return
	}
	l.byName[name] = append(l.byName[name], d)
}

// runLoad sends requests at rate a second, the routes in turn, each on its
// own goroutine (an open loop: a slow answer delays no other request),
// until ctx ends; then it waits for those in flight.
func runLoad(ctx context.Context, c *api.Client, rate float64, ids func() []string, lat *latencies) {
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r := loadRoutes[i%len(loadRoutes)]
		all := ids()
		id := all[rng.IntN(len(all))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			began := time.Now()
			err := r.call(rctx, c, id)
			lat.add(r.name, time.Since(began), err)
		}()
	}
}

// Percentiles summarises durations.
type Percentiles struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// The nearest rank: the smallest value at or above a fraction q.
	at := func(q float64) time.Duration { return s[max(0, int(math.Ceil(q*float64(len(s))))-1)] }
	return Percentiles{Count: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}
