package e2e

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	benchRollouts = flag.Int("rollouts", 100, "Rollouts in BenchmarkCanaryBacklog (1000 for the large run)")
	benchIdle     = flag.Duration("idle", 20*time.Second, "how long idle CPU is measured after the backlog is done")
	benchWorkers  = flag.Int("concurrency", 64, "the manager's --concurrency in BenchmarkCanaryBacklog")
	benchEvents   = flag.String("events", "both", "run with Events (on), without (off) or both")
)

// BenchmarkCanaryBacklog: N Rollouts (replicas 2, one VirtualService and one
// DestinationRule each, subset routing) are Healthy at v1; the manager is
// stopped; every Rollout gets a new image; the manager starts. Measured:
// the time until every Rollout is Healthy on v2 with status observed for its
// generation (4 setWeight steps each: 25, 50, 75, 100, no pauses), the
// manager's API writes per step, its CPU seconds and peak RSS, and its idle
// CPU afterwards. Run once with Events and once without.
func BenchmarkCanaryBacklog(b *testing.B) {
	for _, events := range []bool{true, false} {
		name := "events"
		if !events {
			name = "no-events"
		}
		if *benchEvents != "both" && (*benchEvents == "on") != events {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				backlog(b, *benchRollouts, events)
			}
		})
	}
}

func backlog(b *testing.B, n int, events bool) {
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var extra []string
	if !events {
		extra = append(extra, "--disable-events")
	}
	extra = append(extra, fmt.Sprintf("--concurrency=%d", *benchWorkers))
	steps := weights(25, 50, 75, 100)
	// A long scale-down delay keeps the old revision up, as it would be
	// right after promotion, and keeps the idle measurement idle.
	for i := 0; i < n; i++ {
		ro := app(ctx, b, ns, fmt.Sprintf("app-%04d", i), "app:1", 2, steps, "1h")
		if err := env.Client.Create(ctx, ro); err != nil {
			b.Fatal(err)
		}
	}
	mgr := startManager(b, extra...)
	waitAll(b, ctx, ns, n, "app:1", 10*time.Minute)
	mgr.stop(syscall.SIGTERM)

	var list sluicev1.RolloutList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	for i := range list.Items {
		ro := &list.Items[i]
		ro.Spec.Template.Spec.Containers[0].Image = "app:2"
		if err := env.Client.Update(ctx, ro); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	start := time.Now()
	mgr = startManager(b, extra...)
	defer mgr.stop(syscall.SIGTERM)
	waitAll(b, ctx, ns, n, "app:2", 20*time.Minute)
	wall := time.Since(start)
	b.StopTimer()

	byResource, err := mgr.writes()
	if err != nil {
		b.Fatal(err)
	}
	writes := 0.0
	for r, v := range byResource {
		if r != "leases" {
			writes += v
		}
	}
	cpu := mgr.cpuSeconds()
	rss := mgr.peakRSSMB()
	time.Sleep(2 * time.Second) // let the last status events settle
	idleStart := mgr.cpuSeconds()
	time.Sleep(*benchIdle)
	idlePerMin := (mgr.cpuSeconds() - idleStart) * float64(time.Minute) / float64(*benchIdle)

	totalSteps := float64(n * 4)
	logAPIServerLoad(b)
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(writes/totalSteps, "writes/step")
	b.ReportMetric(cpu, "cpu-s")
	b.ReportMetric(rss, "peak-rss-MB")
	b.ReportMetric(idlePerMin, "idle-cpu-s/min")
	b.Logf("%d rollouts × 4 steps, events=%v: wall %.1fs, %.0f writes (%.2f/step; by resource %v), cpu %.1fs, peak RSS %.0f MB, idle %.3f cpu-s/min",
		n, events, wall.Seconds(), writes, writes/totalSteps, byResource, cpu, rss, idlePerMin)
}

// waitAll waits until every Rollout in ns is Healthy on image with its
// status observed for its generation. It reads from an informer cache (one
// watch), not by listing: listing 1,000 Rollouts five times a second would
// make the apiserver's serialisation the thing measured.
func waitAll(b *testing.B, ctx context.Context, ns string, n int, image string, limit time.Duration) {
	b.Helper()
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Start(cctx)
	if !c.WaitForCacheSync(cctx) {
		b.Fatal("rollout cache did not sync")
	}
	deadline := time.Now().Add(limit)
	for {
		var list sluicev1.RolloutList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		healthy := 0
		for _, ro := range list.Items {
			if ro.Status.ObservedGeneration == ro.Generation && ro.Status.Phase == sluicev1.PhaseHealthy &&
				ro.Status.StableRevision == revisionOf(ro.Name, image) && ro.Status.CanaryRevision == "" {
				healthy++
			}
		}
		if healthy == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Rollouts Healthy on %s after %s", healthy, n, image, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logAPIServerLoad prints the apiserver's request counts by verb and
// resource, the biggest first: where the cluster's time goes.
func logAPIServerLoad(b *testing.B) {
	rc, err := rest.RESTClientFor(withCodec(env.Config))
	if err != nil {
		b.Log(err)
		return
	}
	raw, err := rc.Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Log(err)
		return
	}
	type row struct {
		key string
		n   float64
	}
	counts, seconds := map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		into := counts
		switch {
		case strings.HasPrefix(line, "apiserver_request_total{"):
		case strings.HasPrefix(line, "apiserver_request_duration_seconds_sum{"):
			into = seconds
		default:
			continue
		}
		label := func(name string) string {
			_, rest, ok := strings.Cut(line, name+`="`)
			if !ok {
				return ""
			}
			v, _, _ := strings.Cut(rest, `"`)
			return v
		}
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		into[label("verb")+" "+label("resource")+"/"+label("subresource")] += v
	}
	var rows []row
	for k, v := range seconds {
		rows = append(rows, row{k, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	var out []string
	for i := 0; i < len(rows) && i < 12; i++ {
		out = append(out, fmt.Sprintf("%s %.0f×, %.1fs", rows[i].key, counts[rows[i].key], rows[i].n))
	}
	b.Logf("apiserver request time since start (all clients, biggest first): %s", strings.Join(out, "; "))
}

func withCodec(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{}
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}
