package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/slack-go/slack"
)

// MetadataEventType tags every message sluice posts; its event_payload
// carries event_id, which is how a restarted sluice finds what it posted.
const MetadataEventType = "sluice_rollout_event"

// Look-back defaults: how far back Post searches a channel for an event
// before posting it. A restart is seconds to minutes; a day covers a
// manager that was down overnight, and 200 messages a busy channel.
const (
	DefaultLookback = 200
	DefaultMaxAge   = 24 * time.Hour
)

// rememberedEvents bounds the in-memory record of posted events.
const rememberedEvents = 4096

// Notifier posts events to Slack at most once each.
//
// chat.postMessage has no idempotency key, so Post makes one out of the
// event ID: it tags the message with metadata {event_type:
// sluice_rollout_event, event_payload: {event_id}} and, before posting,
// looks for that ID in the channel's recent history. The controller
// records the event ID in status before calling Post, so after a crash
// between the post and the status write the next call finds the message
// and does not post again. Within one process a memory of posted events
// saves the look-up.
//
// What is outside the look-back (older than MaxAge, or more than Lookback
// messages ago) is not found; an event retried that late is posted again.
type Notifier struct {
	API *slack.Client
	Log logr.Logger
	// Lookback is the most messages searched; DefaultLookback when zero.
	Lookback int
	// MaxAge is the oldest message searched; DefaultMaxAge when zero.
	MaxAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu     sync.Mutex
	posted map[string]string // channel + "\x00" + event ID → ts
	order  []string
	locks  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// NewNotifier posts with api.
func NewNotifier(api *slack.Client, log logr.Logger) *Notifier {
	return &Notifier{API: api, Log: log}
}

// Post posts ev to channel unless it is already there, and returns the
// message's ts either way.
func (n *Notifier) Post(ctx context.Context, channel string, ev Event) (string, error) {
	if ev.ID == "" {
		return "", errors.New("posting to Slack: the event has no ID, so it could not be posted idempotently")
	}
	if channel == "" {
		return "", errors.New("posting to Slack: no channel")
	}
	key := channel + "\x00" + ev.ID
	unlock := n.lock(key)
	defer unlock()

	if ts, ok := n.remembered(key); ok {
		return ts, nil
	}
	var ts string
	var found bool
	var err error
	if !ev.FirstAttempt {
		if ts, found, err = n.Find(ctx, channel, ev.ID); err != nil {
			return "", err
		}
	}
	if found {
		n.Log.V(1).Info("Slack event already posted", "channel", channel, "event", ev.ID, "ts", ts)
		n.remember(key, ts)
		return ts, nil
	}
	text := ev.Text
	if text == "" {
		text = string(ev.Kind)
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionMetadata(eventMetadata(ev.ID, ev.Kind))}
	if len(ev.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(ev.Blocks...))
	}
	_, ts, err = n.API.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", fmt.Errorf("posting event %s to Slack channel %s: %w", ev.ID, channel, err)
	}
	n.Log.Info("Posted a Slack event", "channel", channel, "event", ev.ID, "ts", ts)
	n.remember(key, ts)
	return ts, nil
}

// Find looks for a message tagged with eventID in the channel's recent
// history and returns its ts.
func (n *Notifier) Find(ctx context.Context, channel, eventID string) (string, bool, error) {
	lookback := n.Lookback
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	maxAge := n.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	oldest := now().Add(-maxAge)
	params := &slack.GetConversationHistoryParameters{
		ChannelID:          channel,
		Oldest:             strconv.FormatInt(oldest.Unix(), 10) + ".000000",
		IncludeAllMetadata: true,
	}
	for seen := 0; seen < lookback; {
		params.Limit = min(lookback-seen, 200)
		h, err := n.API.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return "", false, fmt.Errorf("looking for event %s in Slack channel %s: %w", eventID, channel, err)
		}
		for _, m := range h.Messages {
			if m.Metadata.EventType == MetadataEventType && m.Metadata.EventPayload["event_id"] == eventID {
				return m.Timestamp, true, nil
			}
		}
		seen += len(h.Messages)
		if !h.HasMore || h.ResponseMetaData.NextCursor == "" || len(h.Messages) == 0 {
			break
		}
		params.Cursor = h.ResponseMetaData.NextCursor
	}
	return "", false, nil
}

func eventMetadata(id string, kind EventKind) slack.SlackMetadata {
	return slack.SlackMetadata{EventType: MetadataEventType, EventPayload: map[string]any{"event_id": id, "kind": string(kind)}}
}

// lock serialises Posts of one event in this process, so two reconciles
// racing on the same event cannot both miss it and both post.
func (n *Notifier) lock(key string) func() {
	n.mu.Lock()
	if n.locks == nil {
		n.locks = map[string]*keyLock{}
	}
	l := n.locks[key]
	if l == nil {
		l = &keyLock{}
		n.locks[key] = l
	}
	l.refs++
	n.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(n.locks, key)
		}
		n.mu.Unlock()
	}
}

func (n *Notifier) remembered(key string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ts, ok := n.posted[key]
	return ts, ok
}

func (n *Notifier) remember(key, ts string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.posted == nil {
		n.posted = map[string]string{}
	}
	if _, ok := n.posted[key]; ok {
		return
	}
	if len(n.order) >= rememberedEvents {
		delete(n.posted, n.order[0])
		n.order = n.order[1:]
	}
	n.posted[key] = ts
	n.order = append(n.order, key)
}
