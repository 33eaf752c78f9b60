package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

const (
	eventNormal  = corev1.EventTypeNormal
	eventWarning = corev1.EventTypeWarning
)

type pendingEvent struct {
	kind, reason, note string
}

// event queues an event; it is emitted after the status patch, so what
// people read in events never runs ahead of what status says.
func (p *pass) event(kind, reason, format string, args ...any) {
	p.events = append(p.events, pendingEvent{kind: kind, reason: reason, note: fmt.Sprintf(format, args...)})
}

func (p *pass) emitEvents() {
	if p.r.Recorder == nil {
		return
	}
	for _, e := range p.events {
		p.r.Recorder.Eventf(p.ro, nil, e.kind, e.reason, "Reconcile", "%s", e.note)
	}
}
