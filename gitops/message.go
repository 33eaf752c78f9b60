package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// MessageData is what a commit message template sees.
type MessageData struct {
	// Rollout is namespace/name.
	Rollout        string
	Namespace      string
	Name           string
	Revision       string
	StableRevision string
	// Images and StableImages map container names to images.
	Images       map[string]string
	StableImages map[string]string
	Outcome      Outcome
	Reason       string
}

// MessageData fills a template's data from the change.
func (ch Change) MessageData() MessageData {
	return MessageData{
		Rollout:        ch.Rollout.String(),
		Namespace:      ch.Rollout.Namespace,
		Name:           ch.Rollout.Name,
		Revision:       ch.Revision,
		StableRevision: ch.StableRevision,
		Images:         ch.Images,
		StableImages:   ch.StableImages,
		Outcome:        ch.Outcome,
		Reason:         ch.Reason,
	}
}

// DefaultMessageTemplate is used when spec.gitops.commitMessage is empty.
const DefaultMessageTemplate = `{{if eq .Outcome "promoted" -}}
sluice: promote {{.Rollout}} to {{.Revision}}

Promoted revision {{.Revision}}{{with .StableRevision}}, replacing {{.}}{{end}}.
{{- range $container, $image := .Images}}
  {{$container}}: {{$image}}
{{- end}}
{{- else if eq .Outcome "released" -}}
sluice: release {{.Rollout}} revision {{.Revision}}{{with .Reason}}: {{subjectReason .}}{{end}}

Released on request, replacing revision {{.StableRevision}}.
{{- range $container, $image := .StableImages}}
  {{$container}}: {{$image}}
{{- end}}
{{- else -}}
sluice: roll back {{.Rollout}} to {{.StableRevision}}{{with .Reason}}: {{subjectReason .}}{{end}}

Rolled back revision {{.Revision}} to stable revision {{.StableRevision}}.
{{- range $container, $image := .StableImages}}
  {{$container}}: {{$image}}
{{- end}}
{{- with .Reason}}

Reason: {{.}}
{{- end}}
{{- end}}`

// maxMessage bounds a rendered message; a template looping without end
// stops there instead of filling memory.
const maxMessage = 64 << 10

var messageFuncs = template.FuncMap{
	// firstLine keeps a multi-line reason out of the subject line.
	"firstLine": func(s string) string { first, _, _ := strings.Cut(s, "\n"); return first },
	// subjectReason is the reason's first words, so the subject line stays
	// near Git's 72 columns; the whole reason is in the body.
	"subjectReason": func(s string) string {
		first, _, _ := strings.Cut(s, "\n")
		if r := []rune(first); len(r) > 40 {
			return strings.TrimSpace(string(r[:39])) + "…"
		}
		return first
	},
}

// RenderMessage runs the commit message template (DefaultMessageTemplate
// when tmpl is empty). Template errors are terminal, with ReasonTemplate.
func RenderMessage(tmpl string, data MessageData) (string, error) {
	if tmpl == "" {
		tmpl = DefaultMessageTemplate
	}
	t, err := template.New("spec.gitops.commitMessage").Funcs(messageFuncs).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", terminal(ReasonTemplate, "spec.gitops.commitMessage does not parse: %w", err)
	}
	out := &limitedBuffer{max: maxMessage}
	if err := t.Execute(out, data); err != nil {
		return "", terminal(ReasonTemplate, "spec.gitops.commitMessage fails on Rollout %s: %w (fields: .Rollout .Namespace .Name .Revision .StableRevision .Images .StableImages .Outcome .Reason)", data.Rollout, err)
	}
	msg := strings.TrimSpace(out.String())
	if msg == "" {
		return "", terminal(ReasonTemplate, "spec.gitops.commitMessage renders an empty message for Rollout %s", data.Rollout)
	}
	return msg, nil
}

var errTooLong = errors.New("message too long")

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: over %d bytes", errTooLong, b.max)
	}
	return b.Buffer.Write(p)
}
