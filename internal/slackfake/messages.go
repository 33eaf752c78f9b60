package slackfake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Message is a message as the fake holds it now, after any updates.
type Message struct {
	Channel string
	TS      string
	Text    string
	// Blocks is the Block Kit JSON array as posted (or last updated).
	Blocks json.RawMessage
	// Metadata is the message metadata, nil when none was attached.
	Metadata *Metadata
	// Edits counts the chat.update calls and response_url replacements.
	Edits int
}

// Metadata is Slack's message metadata.
type Metadata struct {
	EventType    string         `json:"event_type"`
	EventPayload map[string]any `json:"event_payload"`
}

type message struct {
	Message
	editedTS string
}

type messageRef struct{ channel, ts string }

// Messages returns the channel's messages in the order they were posted,
// each in its current state.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.channels[channel] {
		out = append(out, m.copy())
	}
	return out
}

// Message returns one message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.find(channel, ts); m != nil {
		return m.copy(), true
	}
	return Message{}, false
}

// Post stores a message as if someone else (another app, a person) had
// posted it, for tests of history look-ups.
func (s *Server) Post(channel, text string, meta *Metadata) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &message{Message: Message{Channel: channel, TS: s.newTS(), Text: text, Metadata: meta}}
	s.channels[channel] = append(s.channels[channel], m)
	return m.TS
}

func (m *message) copy() Message {
	c := m.Message
	c.Blocks = append(json.RawMessage(nil), m.Blocks...)
	if m.Metadata != nil {
		md := *m.Metadata
		c.Metadata = &md
	}
	return c
}

func (s *Server) find(channel, ts string) *message {
	for _, m := range s.channels[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// newTS returns a message timestamp ("seconds.micros") later than every
// earlier one, as Slack's are unique per channel. Callers hold s.mu.
func (s *Server) newTS() string {
	now := time.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return formatTS(now)
}

func formatTS(micros int64) string {
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}

// parseTS reads "seconds.micros" (or plain seconds) into microseconds.
func parseTS(ts string) (int64, error) {
	sec, frac, _ := strings.Cut(ts, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "000000")[:6]
	micros, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return secs*1e6 + micros, nil
}

// content validates the text, blocks and metadata parameters shared by
// chat.postMessage and chat.update.
func content(p params) (text string, blocks json.RawMessage, meta *Metadata, hasMeta bool, code string) {
	text = p.get("text")
	if b := p.get("blocks"); b != "" {
		var arr []map[string]any
		if err := json.Unmarshal([]byte(b), &arr); err != nil {
			return "", nil, nil, false, "invalid_blocks"
		}
		for _, blk := range arr {
			if _, ok := blk["type"].(string); !ok {
				return "", nil, nil, false, "invalid_blocks"
			}
		}
		blocks = json.RawMessage(b)
	}
	if m, ok := p["metadata"]; ok {
		hasMeta = true
		md := &Metadata{}
		if err := json.Unmarshal([]byte(m), md); err != nil || md.EventType == "" {
			return "", nil, nil, false, "invalid_metadata_format"
		}
		meta = md
	}
	return text, blocks, meta, hasMeta, ""
}

func (s *Server) postMessage(p params) (map[string]any, string) {
	channel := p.get("channel")
	if channel == "" {
		return nil, "channel_not_found"
	}
	text, blocks, meta, _, code := content(p)
	if code != "" {
		return nil, code
	}
	if text == "" && len(blocks) == 0 {
		return nil, "no_text"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &message{Message: Message{Channel: channel, TS: s.newTS(), Text: text, Blocks: blocks, Metadata: meta}}
	s.channels[channel] = append(s.channels[channel], m)
	return map[string]any{"channel": channel, "ts": m.TS, "message": s.messageJSON(m, true)}, ""
}

func (s *Server) updateMessage(p params) (map[string]any, string) {
	channel, ts := p.get("channel"), p.get("ts")
	text, blocks, meta, hasMeta, code := content(p)
	if code != "" {
		return nil, code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(channel, ts)
	if m == nil {
		return nil, "message_not_found"
	}
	s.edit(m, text, blocks)
	// As in Slack, metadata left out of an update stays on the message.
	if hasMeta {
		m.Metadata = meta
	}
	return map[string]any{"channel": channel, "ts": ts, "text": m.Text, "message": s.messageJSON(m, true)}, ""
}

// edit replaces a message's content; callers hold s.mu.
func (s *Server) edit(m *message, text string, blocks json.RawMessage) {
	m.Text = text
	if blocks != nil {
		m.Blocks = blocks
	}
	m.Edits++
	m.editedTS = s.newTS()
}

// messageJSON renders a message as the Web API returns it.
func (s *Server) messageJSON(m *message, withMeta bool) map[string]any {
	out := map[string]any{
		"type": "message", "user": s.opts.BotUserID, "bot_id": s.opts.BotID, "app_id": s.opts.AppID,
		"team": s.opts.TeamID, "text": m.Text, "ts": m.TS,
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	if m.editedTS != "" {
		out["edited"] = map[string]any{"user": s.opts.BotUserID, "ts": m.editedTS}
	}
	if withMeta && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	return out
}

// history returns messages newest first, like conversations.history:
// oldest and latest bound the range (exclusive unless inclusive is set),
// limit (default 100, at most 999) pages, and cursor continues a page.
// Metadata is included only with include_all_metadata.
func (s *Server) history(p params) (map[string]any, string) {
	channel := p.get("channel")
	if channel == "" {
		return nil, "channel_not_found"
	}
	inclusive := truthy(p.get("inclusive"))
	var oldest, latest int64 = -1, 1 << 62
	if v := p.get("oldest"); v != "" {
		t, err := parseTS(v)
		if err != nil {
			return nil, "invalid_ts_oldest"
		}
		oldest = t
	}
	if v := p.get("latest"); v != "" {
		t, err := parseTS(v)
		if err != nil {
			return nil, "invalid_ts_latest"
		}
		latest = t
	}
	limit := 100
	if v := p.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "invalid_limit"
		}
		if n > 0 {
			limit = min(n, 999)
		}
	}
	offset := 0
	if c := p.get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "offset:"))
		if err != nil || !strings.HasPrefix(c, "offset:") {
			return nil, "invalid_cursor"
		}
		offset = n
	}
	withMeta := truthy(p.get("include_all_metadata"))

	s.mu.Lock()
	defer s.mu.Unlock()
	var inRange []*message
	all := s.channels[channel]
	for i := len(all) - 1; i >= 0; i-- {
		t, _ := parseTS(all[i].TS)
		if t < oldest || t > latest || (!inclusive && (t == oldest || t == latest)) {
			continue
		}
		inRange = append(inRange, all[i])
	}
	msgs := []map[string]any{}
	end := min(offset+limit, len(inRange))
	for i := offset; i < end; i++ {
		msgs = append(msgs, s.messageJSON(inRange[i], withMeta))
	}
	resp := map[string]any{"messages": msgs, "has_more": end < len(inRange), "pin_count": 0}
	if end < len(inRange) {
		resp["response_metadata"] = map[string]any{"next_cursor": fmt.Sprintf("offset:%d", end)}
	}
	return resp, ""
}

func truthy(v string) bool { return v == "1" || v == "true" }
