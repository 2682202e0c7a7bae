package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Subscription receives a node's notifications for one subscription.
type Subscription struct {
	c      *Client
	id     string
	unsub  string
	mu     sync.Mutex
	queue  []json.RawMessage
	signal chan struct{}
	err    error
	closed bool
}

// Subscribe calls method (e.g. "author_submitAndWatchExtrinsic") and
// returns the subscription it opens; unsubscribe is the method that closes
// it. WebSocket only.
func (c *Client) Subscribe(ctx context.Context, method, unsubscribe string, params ...any) (*Subscription, error) {
	if c.ws == nil {
		return nil, fmt.Errorf("rpc %s: subscriptions need a WebSocket node URL (ws:// or wss://), not %s", method, c.url)
	}
	raw, err := c.call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	s := &Subscription{c: c, id: subID(raw), unsub: unsubscribe, signal: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.err != nil {
		s.err, s.closed = c.err, true
	} else {
		c.subs[s.id] = s
		for _, n := range c.early[s.id] {
			s.push(n)
		}
		delete(c.early, s.id)
	}
	c.mu.Unlock()
	return s, nil
}

func (s *Subscription) push(n json.RawMessage) {
	s.mu.Lock()
	s.queue = append(s.queue, n)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *Subscription) close(err error) {
	s.mu.Lock()
	s.err, s.closed = err, true
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Next returns the next notification, waiting for it until ctx is done or
// the connection closes.
func (s *Subscription) Next(ctx context.Context) (json.RawMessage, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			n := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return n, nil
		}
		if s.closed {
			err := s.err
			s.mu.Unlock()
			if err == nil {
				err = ErrClosed
			}
			return nil, err
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Unsubscribe closes the subscription on the node.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.c.mu.Lock()
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
	s.close(nil)
	if s.unsub == "" {
		return nil
	}
	return s.c.Call(ctx, nil, s.unsub, s.id)
}
