package controllers_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// app is a process-local HTTP server exposing the error ratio of each
// revision, which the test controls; a real Prometheus scrapes it.
type app struct {
	addr  string
	ratio *prometheus.GaugeVec
}

func startApp(t *testing.T) *app {
	t.Helper()
	reg := prometheus.NewRegistry()
	a := &app{ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "demo_error_ratio", Help: "errors per request"}, []string{"revision"})}
	reg.MustRegister(a.ratio)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	a.addr = l.Addr().String()
	return a
}

type analysisFixture struct {
	*fixture
	app  *app
	prom *testenv.Prometheus
}

// newAnalysisFixture: a canary of one setWeight and one analysis step, with
// a template that reads the canary revision's error ratio from a real
// Prometheus.
func newAnalysisFixture(t *testing.T, count, errorLimit int32, interval string) *analysisFixture {
	f := newFixture(t)
	a := startApp(t)
	prom, err := env.StartPrometheus(a.addr)
	f.g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { prom.Stop() })
	iv, delay := sluicev1.Duration(interval), sluicev1.Duration("1500ms")
	tpl := &sluicev1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "error-rate", Namespace: f.ns},
		Spec: sluicev1.AnalysisTemplateSpec{Metrics: []sluicev1.Metric{{
			Name: "error-rate", Interval: &iv, Count: ptr.To(count), InitialDelay: &delay,
			ConsecutiveErrorLimit: ptr.To(errorLimit),
			SuccessCondition:      "result < 0.05",
			Prometheus: &sluicev1.PrometheusMetric{
				PrometheusServer: sluicev1.PrometheusServer{Address: prom.URL},
				Query:            `max(demo_error_ratio{revision="{{args.canary-revision}}"})`,
			},
		}}},
	}
	f.g.Expect(env.Client.Create(context.Background(), tpl)).To(Succeed())
	f.create(f.rollout("web:1", `
- setWeight: 20
- analysis: {templates: [{name: error-rate}]}
`))
	f.waitHealthy(f.revisionOf("web:1"))
	return &analysisFixture{fixture: f, app: a, prom: prom}
}

func (f *analysisFixture) run(rev string) *sluicev1.AnalysisRun {
	run := &sluicev1.AnalysisRun{}
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, fmt.Sprintf("web-%s-step1", rev)), run)).To(Succeed())
	return run
}

// successes counts the run's successful measurements, 0 before it exists.
func (f *analysisFixture) successes(rev string) int32 {
	run := &sluicev1.AnalysisRun{}
	if err := env.Client.Get(context.Background(), keyOf(f.ns, fmt.Sprintf("web-%s-step1", rev)), run); err != nil || len(run.Status.MetricResults) == 0 {
		return 0
	}
	return run.Status.MetricResults[0].Successful
}

// setRatio sets the revision's error ratio and waits until Prometheus has
// scraped it, so the first measurement sees data.
func (f *analysisFixture) setRatio(rev string, v float64) {
	f.t.Helper()
	f.app.ratio.WithLabelValues(rev).Set(v)
	f.g.Eventually(func() (string, error) {
		resp, err := http.Get(f.prom.URL + "/api/v1/query?query=" + url.QueryEscape(fmt.Sprintf(`demo_error_ratio{revision=%q}`, rev)))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}, timeout, 200*time.Millisecond).Should(ContainSubstring(strconv.FormatFloat(v, 'g', -1, 64)))
}

// A healthy canary passes its analysis and is promoted.
func TestAnalysisPassPromotes(t *testing.T) {
	f := newAnalysisFixture(t, 3, 4, "1s")
	v2 := f.revisionOf("web:2")
	f.setRatio(v2, 0.01)
	f.setImage("web:2")
	ro := f.waitHealthy(v2)
	f.g.Expect(ro.Status.History[0].Outcome).To(Equal("Promoted"))
	run := f.run(v2)
	f.g.Expect(run.Status.Phase).To(Equal(sluicev1.AnalysisSuccessful))
	r := run.Status.MetricResults[0]
	f.g.Expect(r.Successful).To(BeEquivalentTo(3))
	f.g.Expect(r.Measurements[0].Value).To(Equal("0.01"))
	f.g.Expect(run.OwnerReferences[0].Name).To(Equal("web"))
}

// A faulty canary fails its analysis and is aborted with the metric named.
func TestAnalysisFailureAborts(t *testing.T) {
	f := newAnalysisFixture(t, 3, 4, "1s")
	v2 := f.revisionOf("web:2")
	f.setRatio(v2, 0.5)
	f.setImage("web:2")
	ro := f.waitFor("aborted", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c).NotTo(BeNil())
	f.g.Expect(c.Reason).To(Equal("AnalysisFailed"))
	f.g.Expect(c.Message).To(ContainSubstring(`metric "error-rate"`))
	f.g.Expect(c.Message).To(ContainSubstring("0.5"))
	f.expectWeights(100, 0)
	f.waitReplicas(v2, 0)
}

// Prometheus stopped mid-analysis gives Error measurements and never a
// promotion; back before consecutiveErrorLimit, the run continues and the
// rollout completes.
func TestAnalysisSurvivesShortPrometheusOutage(t *testing.T) {
	f := newAnalysisFixture(t, 4, 6, "1s")
	v2 := f.revisionOf("web:2")
	f.setRatio(v2, 0.01)
	f.setImage("web:2")
	f.g.Eventually(func() int32 { return f.successes(v2) }, timeout, poll).Should(BeNumerically(">=", 1))
	f.g.Expect(f.prom.Stop()).To(Succeed())
	f.g.Eventually(func() int32 { return f.run(v2).Status.MetricResults[0].ConsecutiveErrors }, timeout, poll).Should(BeNumerically(">=", 1))
	ro := f.get()
	f.g.Expect(ro.Status.CanaryRevision).To(Equal(v2), "no promotion while Prometheus is down")
	f.g.Expect(f.run(v2).Status.Phase).To(Equal(sluicev1.AnalysisRunning))
	last := f.run(v2).Status.MetricResults[0].Measurements
	f.g.Expect(last[len(last)-1].Phase).To(Equal(sluicev1.AnalysisError))
	f.g.Expect(last[len(last)-1].Message).To(ContainSubstring("connection refused"))

	f.g.Expect(f.prom.Start()).To(Succeed())
	f.waitHealthy(v2)
	r := f.run(v2).Status.MetricResults[0]
	f.g.Expect(r.Errors).To(BeNumerically(">=", 1))
	f.g.Expect(r.Successful).To(BeEquivalentTo(4))
}

// Left down past consecutiveErrorLimit, the run is Inconclusive and the
// rollout pauses for a person; it is never promoted.
func TestAnalysisLongOutagePausesInconclusive(t *testing.T) {
	f := newAnalysisFixture(t, 5, 2, "1s")
	v2 := f.revisionOf("web:2")
	f.setRatio(v2, 0.01)
	f.setImage("web:2")
	f.g.Eventually(func() int32 { return f.successes(v2) }, timeout, poll).Should(BeNumerically(">=", 1))
	f.g.Expect(f.prom.Stop()).To(Succeed())
	ro := f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.Message).To(ContainSubstring("inconclusive"))
	f.g.Expect(f.run(v2).Status.Phase).To(Equal(sluicev1.AnalysisInconclusive))
	f.g.Expect(ro.Status.CanaryRevision).To(Equal(v2))
	f.expectWeights(80, 20)

	// Retry measures again once Prometheus is back.
	f.g.Expect(f.prom.Start()).To(Succeed())
	f.action(sluicev1.AnnotationRetry)
	f.waitHealthy(v2)
}

// Background analysis runs from its starting step for the whole rollout; a
// failure aborts even while the rollout waits at a pause.
func TestBackgroundAnalysisAborts(t *testing.T) {
	f := newAnalysisFixture(t, 3, 4, "1s")
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Strategy.Canary.Steps = []sluicev1.Step{{SetWeight: ptr.To[int32](20)}, {Pause: &sluicev1.PauseStep{}}}
		ro.Spec.Strategy.Analysis = &sluicev1.BackgroundAnalysis{
			AnalysisStep: sluicev1.AnalysisStep{Templates: []sluicev1.AnalysisTemplateRef{{Name: "error-rate"}}},
			StartingStep: ptr.To[int32](1),
		}
	})
	f.waitHealthy(f.revisionOf("web:1"))
	v2 := f.revisionOf("web:2")
	f.setRatio(v2, 0.3)
	f.setImage("web:2")
	ro := f.waitFor("aborted by background analysis", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c.Reason).To(Equal("AnalysisFailed"))
	f.g.Expect(c.Message).To(HavePrefix("background analysis: "))
	f.g.Expect(c.Message).To(ContainSubstring(`metric "error-rate"`))
	run := &sluicev1.AnalysisRun{}
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "web-"+v2+"-background"), run)).To(Succeed())
	f.g.Expect(run.Status.Phase).To(Equal(sluicev1.AnalysisFailed))
	f.expectWeights(100, 0)
}

// A condition that does not compile never passes: the run is Inconclusive
// with the CEL error, and the rollout waits for a person, saying why.
func TestAnalysisConditionCompileError(t *testing.T) {
	f := newAnalysisFixture(t, 1, 4, "1s")
	tpl := &sluicev1.AnalysisTemplate{}
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "error-rate"), tpl)).To(Succeed())
	tpl.Spec.Metrics[0].SuccessCondition = "result <"
	f.g.Expect(env.Client.Update(context.Background(), tpl)).To(Succeed())
	f.setImage("web:2")
	ro := f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.Message).To(ContainSubstring(`metric "error-rate": successCondition "result <" is invalid`))
	f.g.Expect(meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionPaused).Message).To(ContainSubstring("is invalid"))
	f.expectWeights(80, 20)
}
