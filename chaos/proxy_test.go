package chaos_test

import (
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
)

// proxy relays TCP connections from an address of its own to a node's and
// drops some of them: each connection, with a probability drawn from the
// run's seed, dies after a number of bytes also drawn from it (in the
// middle of a request or a response, body included), and cutAll drops
// every live connection at a moment the driver picks. A drop is an
// abortive close (RST) of both sides, so that each end sees its request
// or its answer die, not end.
type proxy struct {
	name, addr, to string
	l              net.Listener

	mu      sync.Mutex
	rng     *mrand.Rand
	rate    float64 // the share of connections dropped after some bytes
	live    map[*relay]struct{}
	dropped int // connections dropped in all
	midway  int // of those, after some bytes had gone through
	conns   int
}

// relay is one relayed connection.
type relay struct {
	client, server *net.TCPConn
	once           sync.Once
}

// cut ends both sides at once, with a reset.
func (r *relay) cut() {
	r.once.Do(func() {
		r.client.SetLinger(0)
		r.server.SetLinger(0)
		r.client.Close()
		r.server.Close()
	})
}

// close ends both sides in the ordinary way, once both directions ended.
func (r *relay) close() {
	r.once.Do(func() {
		r.client.Close()
		r.server.Close()
	})
}

// newProxy listens on a free loopback address and relays to to until the
// test ends, dropping rate of its connections after some bytes.
func newProxy(t *testing.T, name, to string, seed uint64, rate float64) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{name: name, addr: l.Addr().String(), to: to, l: l, rng: mrand.New(mrand.NewPCG(seed, 0x9e0c5)),
		rate: rate, live: map[*relay]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.cutAll()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c.(*net.TCPConn))
			}()
		}
	}()
	return p
}

// serve relays one connection until either side ends it or it is cut.
func (p *proxy) serve(client *net.TCPConn) {
	s, err := net.Dial("tcp", p.to)
	if err != nil {
		client.SetLinger(0)
		client.Close() // the node is down: so is the proxy, for this connection
		return
	}
	r := &relay{client: client, server: s.(*net.TCPConn)}
	p.mu.Lock()
	p.conns++
	budget := int64(-1) // bytes until the drop; -1: never
	if p.rng.Float64() < p.rate {
		budget = p.rng.Int64N(64 << 10)
	}
	p.live[r] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.live, r)
		p.mu.Unlock()
	}()
	var (
		mu    sync.Mutex
		moved int64
	)
	// counted stops a copy when the connection's budget is spent.
	counted := func(n int) bool {
		if budget < 0 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		moved += int64(n)
		return moved < budget
	}
	// Each direction is copied until its sender closes it (passed on as a
	// half-close) or a side fails, which ends both.
	ended := make(chan bool, 2) // true: a clean end of one direction
	pipe := func(dst, src *net.TCPConn) {
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !counted(n) {
					p.drop(r, true)
					ended <- false
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					ended <- false
					return
				}
			}
			if err != nil {
				clean := errors.Is(err, io.EOF)
				if clean {
					dst.CloseWrite()
				}
				ended <- clean
				return
			}
		}
	}
	go pipe(r.server, r.client)
	go pipe(r.client, r.server)
	if !<-ended {
		r.cut()
	}
	<-ended
	r.close()
}

// drop cuts r and counts it.
func (p *proxy) drop(r *relay, midway bool) {
	p.mu.Lock()
	p.dropped++
	if midway {
		p.midway++
	}
	p.mu.Unlock()
	r.cut()
}

// cutAll drops every live connection and returns how many there were.
func (p *proxy) cutAll() int {
	p.mu.Lock()
	live := make([]*relay, 0, len(p.live))
	for r := range p.live {
		live = append(live, r)
	}
	p.mu.Unlock()
	for _, r := range live {
		p.drop(r, false)
	}
	return len(live)
}

// calm stops the drops after some bytes (cutAll still drops).
func (p *proxy) calm() {
	p.mu.Lock()
	p.rate = 0
	p.mu.Unlock()
}

// counts returns the connections relayed and dropped (and of those, how
// many after some bytes).
func (p *proxy) counts() (conns, dropped, midway int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns, p.dropped, p.midway
}
