package chaos_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// node is one daemon of the network, run as its own process; it can be
// killed (SIGKILL) and started again with the same arguments, on the same
// address and state.
type node struct {
	name string
	bin  string
	args []string
	addr string // what it listens on
	log  *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool // the driver killed it: its exit is expected
	starts  int
	kills   int
	crashes int // exits nobody asked for
}

func newNode(t *testing.T, dir, name, bin, addr string, args ...string) *node {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &node{name: name, bin: bin, args: args, addr: addr, log: f}
}

// start starts the process and waits until it listens.
func (n *node) start(t *testing.T, env ...string) {
	t.Helper()
	n.mu.Lock()
	cmd := exec.Command(n.bin, n.args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	fmt.Fprintf(n.log, "=== start %d: %s %s\n", n.starts+1, n.bin, strings.Join(n.args, " "))
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		t.Fatalf("start %s: %v", n.name, err)
	}
	n.cmd, n.killed, n.exited = cmd, false, make(chan struct{})
	n.starts++
	exited := n.exited
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		if !n.killed {
			n.crashes++
			fmt.Fprintf(n.log, "=== exited by itself: %v\n", err)
		}
		n.mu.Unlock()
		close(exited)
	}()
	waitListening(t, n, 90*time.Second)
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.mu.Lock()
	n.killed = true
	n.kills++
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	fmt.Fprintf(n.log, "=== kill -9\n")
	cmd.Process.Kill()
	<-exited
}

// running reports whether the process is alive.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// stop ends the process for good (the test is over).
func (n *node) stop() {
	if n.running() {
		n.kill()
		n.mu.Lock()
		n.kills--
		n.mu.Unlock()
	}
}

// output is the node's log so far.
func (n *node) output() string {
	b, _ := os.ReadFile(n.log.Name())
	return string(b)
}

// tail is the end of the node's log.
func (n *node) tail(lines int) string {
	all := strings.Split(strings.TrimRight(n.output(), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// waitListening waits until something accepts connections at n.addr (or
// the process exits).
func waitListening(t *testing.T, n *node, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", n.addr, time.Second); err == nil {
			c.Close()
			return
		}
		if !n.running() {
			t.Fatalf("%s exited before it listened:\n%s", n.name, n.tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not listen on %s after %s:\n%s", n.name, n.addr, within, n.tail(30))
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// build builds the crucible binary into dir once.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "crucible")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/crucible-net/crucible/cmd/crucible")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	return bin
}
