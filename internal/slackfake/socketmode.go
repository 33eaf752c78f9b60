package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is a Socket Mode acknowledgement an app sent.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	At         time.Time
}

// sockets holds the Socket Mode side: one-use connection tickets, live
// connections, and envelopes waiting for their ack.
type sockets struct {
	mu       sync.Mutex
	tickets  map[string]bool
	conns    []*socketConn
	changed  chan struct{} // closed and replaced whenever conns changes
	waiting  map[string]chan Ack
	acks     []Ack
	next     int
	upgrader websocket.Upgrader
}

type socketConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // gorilla/websocket allows one writer at a time
	done chan struct{}
}

func newSockets() *sockets {
	return &sockets{
		tickets: map[string]bool{}, changed: make(chan struct{}), waiting: map[string]chan Ack{},
		// slack-go sends Origin: https://api.slack.com, which gorilla's
		// same-origin default would refuse on a local address.
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
}

// connectionsOpen hands out a websocket URL with a one-use ticket, as
// apps.connections.open does for an app-level token.
func (s *Server) connectionsOpen(params) (map[string]any, string) {
	k := s.sockets
	k.mu.Lock()
	k.next++
	ticket := fmt.Sprintf("ticket-%d", k.next)
	k.tickets[ticket] = true
	k.mu.Unlock()
	u := "ws" + strings.TrimPrefix(s.http.URL, "http") + "/link?ticket=" + ticket
	return map[string]any{"url": u}, ""
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	k := s.sockets
	ticket := r.URL.Query().Get("ticket")
	k.mu.Lock()
	ok := k.tickets[ticket]
	delete(k.tickets, ticket)
	k.mu.Unlock()
	if !ok {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := k.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{ws: ws, done: make(chan struct{})}
	hello := map[string]any{
		"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "fake-applink", "approximate_connection_time": 3600},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	}
	if err := c.write(hello); err != nil {
		ws.Close()
		return
	}
	k.mu.Lock()
	k.conns = append(k.conns, c)
	k.notify()
	k.mu.Unlock()
	go c.ping(s.opts.PingInterval)
	defer func() {
		close(c.done)
		ws.Close()
		k.mu.Lock()
		for i, x := range k.conns {
			if x == c {
				k.conns = append(k.conns[:i], k.conns[i+1:]...)
				break
			}
		}
		k.notify()
		k.mu.Unlock()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var a struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		ack := Ack{EnvelopeID: a.EnvelopeID, Payload: a.Payload, At: time.Now()}
		k.mu.Lock()
		k.acks = append(k.acks, ack)
		if ch, ok := k.waiting[a.EnvelopeID]; ok {
			ch <- ack
			delete(k.waiting, a.EnvelopeID)
		}
		k.mu.Unlock()
	}
}

// notify wakes everyone waiting for a connection change; callers hold mu.
func (k *sockets) notify() {
	close(k.changed)
	k.changed = make(chan struct{})
}

func (c *socketConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// ping keeps the connection alive the way Slack does; slack-go treats a
// connection without pings as dead.
func (c *socketConn) ping(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("fake"), time.Now().Add(5*time.Second)); err != nil {
				return
			}
		}
	}
}

func (k *sockets) closeAll() {
	k.mu.Lock()
	conns := append([]*socketConn(nil), k.conns...)
	k.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server closing"), time.Now().Add(time.Second))
		c.wmu.Unlock()
		c.ws.Close()
	}
}

// WaitForSocket blocks until an app holds a Socket Mode connection.
func (s *Server) WaitForSocket(ctx context.Context) error {
	_, err := s.sockets.live(ctx)
	return err
}

func (k *sockets) live(ctx context.Context) (*socketConn, error) {
	for {
		k.mu.Lock()
		if n := len(k.conns); n > 0 {
			c := k.conns[n-1]
			k.mu.Unlock()
			return c, nil
		}
		ch := k.changed
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("no Socket Mode connection: %w", ctx.Err())
		}
	}
}

// DeliverInteractive sends an interaction payload over the app's Socket
// Mode connection, as an "interactive" envelope, and waits for the app's
// ack of that envelope.
func (s *Server) DeliverInteractive(ctx context.Context, p Payload) (Ack, error) {
	return s.deliver(ctx, "interactive", p)
}

func (s *Server) deliver(ctx context.Context, typ string, payload any) (Ack, error) {
	k := s.sockets
	c, err := k.live(ctx)
	if err != nil {
		return Ack{}, err
	}
	k.mu.Lock()
	k.next++
	id := fmt.Sprintf("fake-envelope-%d", k.next)
	ch := make(chan Ack, 1)
	k.waiting[id] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.waiting, id)
		k.mu.Unlock()
	}()
	env := map[string]any{"envelope_id": id, "type": typ, "payload": payload, "accepts_response_payload": false, "retry_attempt": 0, "retry_reason": ""}
	if err := c.write(env); err != nil {
		return Ack{}, fmt.Errorf("writing envelope %s: %w", id, err)
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.done:
		return Ack{}, errors.New("the connection closed before envelope " + id + " was acknowledged")
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("envelope %s not acknowledged: %w", id, ctx.Err())
	}
}

// Acks returns every ack received, oldest first.
func (s *Server) Acks() []Ack {
	s.sockets.mu.Lock()
	defer s.sockets.mu.Unlock()
	return append([]Ack(nil), s.sockets.acks...)
}
