package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Binding ties a button to one gate: one Rollout (by UID, so a recreated
// Rollout of the same name is another), one revision, one step. Slack hands
// the button's value back with every click, inside the signed payload, so
// the binding cannot be altered by the clicker; the recorder still checks it
// against the Rollout as it is now.
//
// Namespace and name are carried too, so the recorder gets the Rollout
// directly instead of listing every Rollout in the cluster per click; the
// UID is what is trusted, the name only finds the object.
type Binding struct {
	RolloutUID string `json:"u"`
	Namespace  string `json:"ns"`
	Rollout    string `json:"n"`
	Revision   string `json:"r"`
	Step       int32  `json:"s"`
}

// bindingVersion lets a later sluice change the encoding and still read
// buttons posted by this one.
const bindingVersion = 1

type bindingJSON struct {
	V int `json:"v"`
	Binding
}

// Value encodes the binding as a button value: compact JSON, well under
// Slack's 2000-character limit for any valid object names.
func (b Binding) Value() string {
	js, _ := json.Marshal(bindingJSON{V: bindingVersion, Binding: b})
	return string(js)
}

// ParseBinding decodes a button value written by Value.
func ParseBinding(v string) (Binding, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var b bindingJSON
	if err := dec.Decode(&b); err != nil {
		return Binding{}, fmt.Errorf("button value is not a sluice gate binding: %w", err)
	}
	switch {
	case b.V != bindingVersion:
		return Binding{}, fmt.Errorf("button value has binding version %d, this sluice reads %d", b.V, bindingVersion)
	case b.RolloutUID == "" || len(b.RolloutUID) > 64:
		return Binding{}, fmt.Errorf("button value has no valid rollout UID")
	case b.Revision == "" || len(b.Revision) > 63:
		return Binding{}, fmt.Errorf("button value has no valid revision")
	case b.Step < -1:
		return Binding{}, fmt.Errorf("button value has step %d", b.Step)
	case len(b.Namespace) > 63 || len(b.Rollout) > 253:
		return Binding{}, fmt.Errorf("button value has an invalid rollout name")
	}
	return b.Binding, nil
}

// GateEventID is the event ID of the gate's approval request, so the gate
// message is posted once per gate however often the controller asks.
func (b Binding) GateEventID() string {
	return EventID(b.RolloutUID, b.Revision, EventApprovalRequested, b.Step)
}
