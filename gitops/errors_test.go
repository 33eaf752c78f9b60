package gitops

import (
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
)

func TestErrorHelpers(t *testing.T) {
	conflict := terminal(ReasonConflict, "file changed")
	busy := transient(ReasonPushRejected, "others kept pushing")
	tests := []struct {
		name      string
		err       error
		reason    Reason
		retryable bool
	}{
		{"nil", nil, "", false},
		{"terminal", conflict, ReasonConflict, false},
		{"wrapped terminal", fmt.Errorf("writing: %w", conflict), ReasonConflict, false},
		{"placed keeps reason", within("branch main", conflict), ReasonConflict, false},
		{"transient", busy, ReasonPushRejected, true},
		{"foreign error", errors.New("boom"), ReasonTransient, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(ReasonOf(tt.err)).To(Equal(tt.reason))
			g.Expect(IsRetryable(tt.err)).To(Equal(tt.retryable))
		})
	}
	NewWithT(t).Expect(within("branch main", conflict).Error()).To(Equal("branch main: file changed"))
}
