package judge

import (
	"testing"
	"time"
)

func TestDbgPasses(t *testing.T) {
	base := sortedCopy(normal(1, 10_000, 100, 15))
	canary := sortedCopy(normal(2, 10_000, 103, 15))
	m := newDiffMatrix(base, canary)
	st := time.Now()
	for i := 0; i < 20; i++ { m.count(3, m.pos) }
	t.Logf("count pass: %v", time.Since(st)/20)
	total := int64(1e8)
	for _, k := range []int64{ciRank(10000, 10000, 0.98), total / 2, total + 1 - ciRank(10000, 10000, 0.98)} {
		dbgPasses = 0
		st := time.Now()
		m.kth(k)
		t.Logf("k=%d passes=%d enum=%d time=%v", k, dbgPasses, dbgEnum, time.Since(st))
	}
}

func TestDbgHL(t *testing.T) {
	base := sortedCopy(normal(1, 10_000, 100, 15))
	canary := sortedCopy(normal(2, 10_000, 103, 15))
	for i := 0; i < 3; i++ {
		m := newDiffMatrix(base, canary)
		st := time.Now()
		dbgPasses = 0
		m.hodgesLehmann(0.98)
		t.Logf("hl passes=%d time=%v", dbgPasses, time.Since(st))
	}
}
