package slackfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// Button is an interactive button found in a message's blocks.
type Button struct {
	BlockID  string
	ActionID string
	Value    string
	Text     string
	Style    string
}

// Buttons lists the buttons of a message's actions blocks and section
// accessories, in block order.
func (m Message) Buttons() []Button {
	var blocks []struct {
		Type      string            `json:"type"`
		BlockID   string            `json:"block_id"`
		Elements  []json.RawMessage `json:"elements"`
		Accessory json.RawMessage   `json:"accessory"`
	}
	if len(m.Blocks) == 0 || json.Unmarshal(m.Blocks, &blocks) != nil {
		return nil
	}
	var out []Button
	add := func(blockID string, raw json.RawMessage) {
		var e struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Type == "button" {
			out = append(out, Button{BlockID: blockID, ActionID: e.ActionID, Value: e.Value, Text: e.Text.Text, Style: e.Style})
		}
	}
	for _, b := range blocks {
		switch b.Type {
		case "actions":
			for _, e := range b.Elements {
				add(b.BlockID, e)
			}
		case "section":
			if len(b.Accessory) > 0 {
				add(b.BlockID, b.Accessory)
			}
		}
	}
	return out
}

// User is the person who clicks.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

// Payload is a block_actions interaction payload with the fields Slack
// sends for a button in a message. Fields are exported so a test can alter
// a payload before it is signed (a signed payload cannot be altered).
type Payload struct {
	Type                string          `json:"type"`
	User                User            `json:"user"`
	APIAppID            string          `json:"api_app_id"`
	Token               string          `json:"token"`
	Container           Container       `json:"container"`
	TriggerID           string          `json:"trigger_id"`
	Team                Team            `json:"team"`
	Enterprise          *Team           `json:"enterprise"`
	IsEnterpriseInstall bool            `json:"is_enterprise_install"`
	Channel             Channel         `json:"channel"`
	Message             json.RawMessage `json:"message"`
	State               State           `json:"state"`
	ResponseURL         string          `json:"response_url"`
	Actions             []Action        `json:"actions"`
}

// Container says where the clicked element is.
type Container struct {
	Type        string `json:"type"`
	MessageTS   string `json:"message_ts"`
	ChannelID   string `json:"channel_id"`
	IsEphemeral bool   `json:"is_ephemeral"`
}

// Team is a workspace.
type Team struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

// Channel is the conversation of the message.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// State holds the values of the message's input elements at click time.
type State struct {
	Values map[string]map[string]InputValue `json:"values"`
}

// InputValue is one input element's value.
type InputValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Action is the clicked element.
type Action struct {
	ActionID string  `json:"action_id"`
	BlockID  string  `json:"block_id"`
	Text     TextObj `json:"text"`
	Value    string  `json:"value"`
	Style    string  `json:"style,omitempty"`
	Type     string  `json:"type"`
	ActionTS string  `json:"action_ts"`
}

// TextObj is a Block Kit text object.
type TextObj struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji"`
}

// PayloadOption changes a payload built by ButtonClick.
type PayloadOption func(*Payload)

// WithInput sets the value of a plain-text input in the message, as if the
// user had typed it before clicking.
func WithInput(blockID, actionID, value string) PayloadOption {
	return func(p *Payload) {
		if p.State.Values[blockID] == nil {
			p.State.Values[blockID] = map[string]InputValue{}
		}
		p.State.Values[blockID][actionID] = InputValue{Type: "plain_text_input", Value: value}
	}
}

// ButtonClick builds the payload Slack would send when user clicks the
// button with actionID on the message at (channel, ts): the button's own
// value and block, the message as it is now, and a fresh response_url bound
// to the message.
func (s *Server) ButtonClick(channel, ts, actionID string, user User, opts ...PayloadOption) (Payload, error) {
	s.mu.Lock()
	m := s.find(channel, ts)
	if m == nil {
		s.mu.Unlock()
		return Payload{}, fmt.Errorf("no message %s in channel %s", ts, channel)
	}
	msgJSON, err := json.Marshal(s.messageJSON(m, false))
	current := m.copy()
	actionTS := s.newTS()
	s.nextID++
	trigger := fmt.Sprintf("%d.%d.fake-trigger", time.Now().Unix(), s.nextID)
	s.mu.Unlock()
	if err != nil {
		return Payload{}, err
	}
	var button *Button
	for _, b := range current.Buttons() {
		if b.ActionID == actionID {
			button = &b
			break
		}
	}
	if button == nil {
		return Payload{}, fmt.Errorf("message %s has no button with action_id %q", ts, actionID)
	}
	if user.TeamID == "" {
		user.TeamID = s.opts.TeamID
	}
	p := Payload{
		Type:        "block_actions",
		User:        user,
		APIAppID:    s.opts.AppID,
		Token:       "fake-verification-token",
		Container:   Container{Type: "message", MessageTS: ts, ChannelID: channel},
		TriggerID:   trigger,
		Team:        Team{ID: s.opts.TeamID, Domain: "fake"},
		Channel:     Channel{ID: channel, Name: "fake-" + channel},
		Message:     msgJSON,
		State:       State{Values: map[string]map[string]InputValue{}},
		ResponseURL: s.ResponseURL(channel, ts),
		Actions: []Action{{
			ActionID: button.ActionID, BlockID: button.BlockID, Value: button.Value, Style: button.Style,
			Text: TextObj{Type: "plain_text", Text: button.Text, Emoji: true}, Type: "button", ActionTS: actionTS,
		}},
	}
	for _, o := range opts {
		o(&p)
	}
	return p, nil
}
