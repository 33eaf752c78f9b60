package gitops

import (
	"strings"
)

// Commit trailers that make a write findable again.
const (
	TrailerRollout  = "Sluice-Rollout"
	TrailerRevision = "Sluice-Revision"
	TrailerOutcome  = "Sluice-Outcome"
)

// Trailers identify a write-back: which rollout, revision and outcome.
type Trailers struct {
	Rollout  string
	Revision string
	Outcome  Outcome
}

// withTrailers appends the trailer block to a message, after a blank line
// as git interpret-trailers expects.
func withTrailers(msg string, t Trailers) string {
	return strings.TrimRight(msg, " \t\r\n") + "\n\n" +
		TrailerRollout + ": " + t.Rollout + "\n" +
		TrailerRevision + ": " + t.Revision + "\n" +
		TrailerOutcome + ": " + string(t.Outcome) + "\n"
}

// ParseTrailers reads sluice's trailers from a commit message's last
// paragraph; ok is false when it has none.
func ParseTrailers(msg string) (t Trailers, ok bool) {
	paras := strings.Split(strings.TrimRight(strings.ReplaceAll(msg, "\r\n", "\n"), "\n"), "\n\n")
	last := paras[len(paras)-1]
	for line := range strings.SplitSeq(last, "\n") {
		key, value, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(key) {
		case TrailerRollout:
			t.Rollout = value
		case TrailerRevision:
			t.Revision = value
		case TrailerOutcome:
			t.Outcome = Outcome(value)
		}
	}
	return t, t.Rollout != "" && len(paras) > 1
}
