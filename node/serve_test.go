package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveGuarded serves h with Serve's timeouts shortened, until the test
// ends, and returns its address.
func serveGuarded(t *testing.T, h http.Handler, header time.Duration) string {
	t.Helper()
	bodyStall, writeStall = 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { bodyStall, writeStall = BodyStall, WriteStall })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Guard(h), ReadHeaderTimeout: header}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// A slow-loris connection (headers or body trickling in) is dropped; a
// body that keeps coming is read whole however long it takes; a handler
// that works long after reading its body keeps its context.
func TestGuardSlowClients(t *testing.T) {
	read := make(chan error, 4)
	ctxErr := make(chan error, 1)
	addr := serveGuarded(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		read <- err
		if r.URL.Path == "/slow-handler" {
			time.Sleep(time.Second) // longer than the body stall
			ctxErr <- r.Context().Err()
		}
		io.WriteString(w, strings.Repeat("k", int(n%7)))
	}), 300*time.Millisecond)

	// Headers that never finish: the server hangs up.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow headers: connection not closed by the server: %v", err)
	}
	c.Close()

	// A body that stalls: the handler's read fails and the server hangs up.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("a stalled body read to its end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled body held the handler")
	}
	c.Close()

	// A body that keeps coming, for longer than the stall, in steps.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, BodyProgress)
		for i := 0; i < 6; i++ {
			pw.Write(chunk)
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", "http://"+addr+"/steady", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-read; err != nil || resp.StatusCode != 200 {
		t.Fatalf("steady body: %v, status %d", err, resp.StatusCode)
	}

	// A handler that works for longer than the stall after its body.
	req, _ = http.NewRequestWithContext(context.Background(), "PUT", "http://"+addr+"/slow-handler", strings.NewReader("body"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-read
	if err := <-ctxErr; err != nil {
		t.Fatalf("the handler's context ended while it worked: %v", err)
	}
}
