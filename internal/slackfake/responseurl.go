package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ResponsePost is one request an app made to a response_url.
type ResponsePost struct {
	URL string
	// Channel and TS name the message the response_url belongs to.
	Channel, TS string
	// Body is the JSON as received.
	Body json.RawMessage
	// Parsed fields of Body.
	Text            string
	ResponseType    string
	ReplaceOriginal bool
	DeleteOriginal  bool
	At              time.Time
}

// ResponseURL returns a new response_url bound to a message, as Slack puts
// one in every interaction payload.
func (s *Server) ResponseURL(channel, ts string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprintf("r%d", s.nextID)
	s.respURLs[id] = messageRef{channel: channel, ts: ts}
	return s.http.URL + "/response/" + id
}

// Responses returns what apps posted to response URLs, oldest first.
func (s *Server) Responses() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponsePost(nil), s.responses...)
}

// serveResponseURL accepts a message for a response_url. A replacement
// (replace_original) changes the message it belongs to; anything else is
// an ephemeral or in-channel reply, only recorded. No token is needed: the
// URL is the credential.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.respURLs[r.PathValue("id")]
	if !ok {
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	}
	s.responses = append(s.responses, ResponsePost{
		URL: s.http.URL + r.URL.Path, Channel: ref.channel, TS: ref.ts, Body: body, Text: msg.Text,
		ResponseType: msg.ResponseType, ReplaceOriginal: msg.ReplaceOriginal, DeleteOriginal: msg.DeleteOriginal, At: time.Now(),
	})
	if msg.ReplaceOriginal {
		if m := s.find(ref.channel, ref.ts); m != nil {
			var blocks json.RawMessage
			if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
				blocks = msg.Blocks
			}
			s.edit(m, msg.Text, blocks)
		}
	}
	writeJSON(w, map[string]any{"ok": true})
}
