package gitops

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestRenderMessage(t *testing.T) {
	tests := []struct {
		name   string
		tmpl   string
		data   MessageData
		want   string
		errSub string
	}{
		{
			name: "default promotion",
			data: promotion("r.yaml", FormatManifest).MessageData(),
			want: "sluice: promote default/web to 7c9f1a2b3c\n\nPromoted revision 7c9f1a2b3c, replacing 5d2a0e4f6b.\n  app: registry.example.com/web:v2",
		},
		{
			name: "default rollback puts the first line of the reason in the subject",
			data: func() MessageData {
				d := abort("r.yaml", FormatManifest).MessageData()
				d.Reason = "analysis error-rate failed\nerror-rate 0.12 > 0.05"
				return d
			}(),
			want: "sluice: roll back default/web to 5d2a0e4f6b: analysis error-rate failed\n\n" +
				"Rolled back revision 7c9f1a2b3c to stable revision 5d2a0e4f6b.\n  app: registry.example.com/web:v1\n\n" +
				"Reason: analysis error-rate failed\nerror-rate 0.12 > 0.05",
		},
		{
			name: "custom template sees every field",
			tmpl: "deploy({{.Namespace}}/{{.Name}}): {{.Outcome}} {{.Revision}} from {{.StableRevision}} {{index .Images \"app\"}} {{index .StableImages \"app\"}} {{.Reason}}",
			data: abort("r.yaml", FormatManifest).MessageData(),
			want: "deploy(default/web): aborted 7c9f1a2b3c from 5d2a0e4f6b registry.example.com/web:v2 registry.example.com/web:v1 analysis error-rate failed",
		},
		{name: "parse error", tmpl: "{{.Rollout", errSub: "gitops.commitMessage does not parse"},
		{name: "unknown field", tmpl: "{{.Nope}}", errSub: "can't evaluate field Nope"},
		{name: "unknown function", tmpl: "{{shout .Rollout}}", errSub: `function "shout" not defined`},
		{name: "empty output", tmpl: "{{if false}}x{{end}}  ", errSub: "renders an empty message"},
		{name: "runaway output", tmpl: "{{range 100000000}}xxxxxxxx{{end}}", errSub: "message too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			if tt.data.Rollout == "" {
				tt.data = promotion("r.yaml", FormatManifest).MessageData()
			}
			got, err := RenderMessage(tt.tmpl, tt.data)
			if tt.errSub != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.errSub)))
				g.Expect(ReasonOf(err)).To(Equal(ReasonTemplate))
				g.Expect(IsRetryable(err)).To(BeFalse())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestTrailers(t *testing.T) {
	want := Trailers{Rollout: "default/web", Revision: canaryRev, Outcome: OutcomeAborted}
	msg := withTrailers("subject\n\nbody mentions Sluice-Rollout: other/x\n\n", want)
	tests := []struct {
		name string
		msg  string
		want Trailers
		ok   bool
	}{
		{"written by withTrailers", msg, want, true},
		{"CRLF", strings.ReplaceAll(msg, "\n", "\r\n"), want, true},
		{"no trailers", "fix typo\n\nSigned-off-by: a <a@b>\n", Trailers{}, false},
		{"a subject alone is no trailer block", "Sluice-Rollout: default/web", Trailers{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, ok := ParseTrailers(tt.msg)
			g.Expect(ok).To(Equal(tt.ok))
			if tt.ok {
				g.Expect(got).To(Equal(tt.want))
			}
		})
	}
	NewWithT(t).Expect(msg).To(HaveSuffix("body mentions Sluice-Rollout: other/x\n\nSluice-Rollout: default/web\nSluice-Revision: 7c9f1a2b3c\nSluice-Outcome: aborted\n"))
}
