// Package slack is the Slack side of sluice's approvals and notifications:
// the Block Kit message an approval gate posts, the endpoint (HTTP or
// Socket Mode) that receives the Approve/Reject clicks, the checks a click
// must pass before it becomes an Approval object, and idempotent posting of
// rollout events.
//
// A click travels: Slack → Handler (signature, timestamp window, replay) or
// RunSocketMode (the websocket is authenticated by the app token) →
// Decision → Recorder (KubeRecorder: the Rollout is still at that revision
// and step, the gate is an approval gate, the user is on its Slack
// allow-list; then an Approval with a deterministic name) → the message is
// updated afterwards. The durable record comes before the answer to Slack,
// so a click Slack showed as accepted is never lost; the message update
// comes after, because it is only a picture of the record.
//
// The controller decides the gate from Approval objects (package approval),
// never from Slack messages.
//
// Slack scopes the bot token needs: chat:write, channels:history (and
// groups:history for private channels) for the idempotency look-up,
// usergroups:read for approver groups; Socket Mode needs an app-level token
// with connections:write.
package slack
