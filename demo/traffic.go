package demo

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// generator stands in for the mesh's data plane (no Envoy runs here): every
// 200 ms it reads the live VirtualService route "primary" and the
// DestinationRule's subsets, and sends requests to the demo-app processes
// of each subset's revision in the proportions the weights prescribe.
type generator struct {
	c      client.Client
	ns     string
	apps   *runner
	rps    int
	client *http.Client

	mu     sync.Mutex
	routes []weighted // the live split
	window []second   // the last few seconds of results
}

// weighted is one destination of the route: a subset, its weight and the
// revision its labels select ("" selects every revision of the app).
type weighted struct {
	Subset   string
	Weight   int64
	Revision string
}

// second counts results per revision in one second.
type second struct {
	at     time.Time
	ok     map[string]int
	failed map[string]int
}

// Split is what the data plane saw over the last seconds, per revision.
type Split struct {
	RPS    float64
	Shares map[string]float64 // revision → share of requests
	Errors map[string]float64 // revision → share of 5xx among its requests
	// NoUpstream counts requests that found no process (a subset with no
	// running revision).
	NoUpstream int
}

func newGenerator(c client.Client, ns string, apps *runner, rps int) *generator {
	return &generator{c: c, ns: ns, apps: apps, rps: rps, client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

func (g *generator) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			g.readRoutes(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	// A fixed pool of senders, each pacing itself, keeps the rate steady.
	workers := 8
	interval := time.Duration(float64(time.Second) * float64(workers) / float64(g.rps))
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * interval / time.Duration(workers))
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					g.send(ctx)
				}
			}
		}()
	}
	wg.Wait()
}

// readRoutes reads the split from the live objects.
func (g *generator) readRoutes(ctx context.Context) {
	vs := &unstructured.Unstructured{}
	vs.SetAPIVersion("networking.istio.io/v1")
	vs.SetKind("VirtualService")
	dr := &unstructured.Unstructured{}
	dr.SetAPIVersion("networking.istio.io/v1")
	dr.SetKind("DestinationRule")
	if err := g.c.Get(ctx, client.ObjectKey{Namespace: g.ns, Name: "web"}, vs); err != nil {
		return
	}
	if err := g.c.Get(ctx, client.ObjectKey{Namespace: g.ns, Name: "web"}, dr); err != nil {
		return
	}
	subsets := map[string]string{}
	list, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	for _, s := range list {
		m, _ := s.(map[string]any)
		name, _, _ := unstructured.NestedString(m, "name")
		rev, _, _ := unstructured.NestedString(m, "labels", sluicev1.LabelRevision)
		subsets[name] = rev
	}
	var routes []weighted
	httpRoutes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, r := range httpRoutes {
		m, _ := r.(map[string]any)
		if name, _, _ := unstructured.NestedString(m, "name"); name != "primary" {
			continue
		}
		dests, _, _ := unstructured.NestedSlice(m, "route")
		for _, d := range dests {
			dm, _ := d.(map[string]any)
			subset, _, _ := unstructured.NestedString(dm, "destination", "subset")
			w, found, _ := unstructured.NestedInt64(dm, "weight")
			if !found && len(dests) == 1 {
				w = 100
			}
			routes = append(routes, weighted{Subset: subset, Weight: w, Revision: subsets[subset]})
		}
	}
	g.mu.Lock()
	g.routes = routes
	g.mu.Unlock()
}

// pick chooses a destination revision the way Envoy's weighted clusters do.
func (g *generator) pick() (string, bool) {
	g.mu.Lock()
	routes := g.routes
	g.mu.Unlock()
	var total int64
	for _, r := range routes {
		total += r.Weight
	}
	if total <= 0 {
		return "", false
	}
	n := rand.Int64N(total)
	for _, r := range routes {
		if n < r.Weight {
			if r.Revision != "" {
				return r.Revision, true
			}
			// A subset that selects every pod of the app: any revision.
			running := g.apps.running()
			if len(running) == 0 {
				return "", false
			}
			return running[rand.IntN(len(running))].Revision, true
		}
		n -= r.Weight
	}
	return "", false
}

func (g *generator) send(ctx context.Context) {
	rev, ok := g.pick()
	if !ok {
		return
	}
	p, ok := g.apps.endpoint(rev)
	if !ok {
		g.record(rev, false, true)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+"/", nil)
	if err != nil {
		return
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.record(rev, false, false)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	g.record(rev, resp.StatusCode < 500, false)
}

const windowSeconds = 5

func (g *generator) record(rev string, ok, noUpstream bool) {
	now := time.Now().Truncate(time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.window); n == 0 || !g.window[n-1].at.Equal(now) {
		g.window = append(g.window, second{at: now, ok: map[string]int{}, failed: map[string]int{}})
		if len(g.window) > windowSeconds+1 {
			g.window = g.window[1:]
		}
	}
	s := &g.window[len(g.window)-1]
	key := rev
	if noUpstream {
		key = "-"
	}
	if ok {
		s.ok[key]++
	} else {
		s.failed[key]++
	}
}

// split summarises the last full seconds.
func (g *generator) split() Split {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now().Truncate(time.Second)
	okN, failN := map[string]int{}, map[string]int{}
	total, secs := 0, 0
	out := Split{Shares: map[string]float64{}, Errors: map[string]float64{}}
	for _, s := range g.window {
		if !s.at.Before(now) || now.Sub(s.at) > windowSeconds*time.Second {
			continue
		}
		secs++
		for k, v := range s.ok {
			okN[k] += v
			total += v
		}
		for k, v := range s.failed {
			failN[k] += v
			total += v
		}
	}
	if total == 0 || secs == 0 {
		return out
	}
	out.RPS = float64(total) / float64(secs)
	out.NoUpstream = failN["-"]
	for _, m := range []map[string]int{okN, failN} {
		for rev := range m {
			if rev == "-" {
				continue
			}
			n := okN[rev] + failN[rev]
			out.Shares[rev] = float64(n) / float64(total)
			out.Errors[rev] = float64(failN[rev]) / float64(n)
		}
	}
	return out
}
