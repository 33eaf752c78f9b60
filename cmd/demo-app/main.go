// Command demo-app is the sample app of `make demo`: a small HTTP server
// standing in for one revision of a web service. Its version and error rate
// come from flags (or the environment), and it exposes Prometheus metrics in
// the shape of Istio's standard request metrics, so the AnalysisTemplate the
// demo ships queries exactly what it would query behind a real Istio
// sidecar:
//
//	istio_requests_total{reporter="destination", destination_service_name,
//	    destination_canonical_service, destination_canonical_revision,
//	    destination_version, response_code}
//	istio_request_duration_milliseconds_bucket{…same labels…, le}
//
// The demo runs one process per revision and passes the revision hash
// sluice put on the pods (service.istio.io/canonical-revision), so the
// metrics tell revisions apart as Istio's would.
//
// Usage:
//
//	demo-app --listen 127.0.0.1:8080 --version v3 --revision 5f8c… --error-rate 0.3
//
// GET / answers "web v3" (or a 500 for the configured share of requests),
// GET /metrics serves the metrics, GET /healthz answers ok with the
// revision in the X-Demo-Revision header.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen", envOr("LISTEN", "127.0.0.1:8080"), "address to serve on (env LISTEN)")
	version := flag.String("version", envOr("VERSION", "v1"), "version this process reports (env VERSION)")
	rev := flag.String("revision", envOr("REVISION", "unknown"), "revision hash, reported as destination_canonical_revision (env REVISION)")
	service := flag.String("service", envOr("SERVICE", "web"), "service name, reported as destination_service_name (env SERVICE)")
	errorRate := flag.Float64("error-rate", envFloat("ERROR_RATE", 0), "share of requests answered with 500, 0 to 1 (env ERROR_RATE)")
	latency := flag.Duration("latency", envDuration("LATENCY", 3*time.Millisecond), "mean simulated processing time (env LATENCY)")
	flag.Parse()
	if *errorRate < 0 || *errorRate > 1 {
		log.Fatalf("--error-rate %v: must be between 0 and 1", *errorRate)
	}

	a := newApp(*service, *version, *rev, *errorRate, *latency)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("demo-app %s (revision %s, error rate %.0f%%) serving on %s", *version, *rev, *errorRate*100, l.Addr())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type app struct {
	version   string
	errorRate float64
	latency   time.Duration
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	labels    prometheus.Labels
}

func newApp(service, version, rev string, errorRate float64, latency time.Duration) *app {
	a := &app{version: version, errorRate: errorRate, latency: latency, reg: prometheus.NewRegistry()}
	names := []string{"reporter", "destination_service_name", "destination_canonical_service", "destination_canonical_revision", "destination_version", "response_code"}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "istio_requests_total",
		Help: "Requests served, in the shape of Istio's standard metric.",
	}, names)
	a.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "istio_request_duration_milliseconds",
		Help:    "Request duration in milliseconds, in the shape of Istio's standard metric.",
		Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
	}, names)
	a.reg.MustRegister(a.requests, a.duration)
	a.labels = prometheus.Labels{
		"reporter":                       "destination",
		"destination_service_name":       service,
		"destination_canonical_service":  service,
		"destination_canonical_revision": rev,
		"destination_version":            version,
	}
	// Both codes exist from the start, so a rate over them is 0, not absent.
	for _, code := range []string{"200", "500"} {
		a.requests.With(a.with(code))
	}
	return a
}

func (a *app) with(code string) prometheus.Labels {
	l := prometheus.Labels{"response_code": code}
	for k, v := range a.labels {
		l[k] = v
	}
	return l
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Demo-Revision", a.labels["destination_canonical_revision"])
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /", a.serve)
	return mux
}

func (a *app) serve(w http.ResponseWriter, _ *http.Request) {
	start := time.Now()
	// A little work, so the latency histogram has a shape.
	if a.latency > 0 {
		time.Sleep(time.Duration(rand.ExpFloat64() * float64(a.latency)))
	}
	code := http.StatusOK
	if rand.Float64() < a.errorRate {
		code = http.StatusInternalServerError
	}
	w.Header().Set("X-Version", a.version)
	w.WriteHeader(code)
	if code == http.StatusOK {
		fmt.Fprintf(w, "web %s\n", a.version)
	} else {
		fmt.Fprintf(w, "web %s: internal error\n", a.version)
	}
	l := a.with(strconv.Itoa(code))
	a.requests.With(l).Inc()
	a.duration.With(l).Observe(float64(time.Since(start).Microseconds()) / 1000)
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envFloat(key string, def float64) float64 {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		log.Fatalf("%s=%q: %v", key, v, err)
	}
	return f
}

func envDuration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Fatalf("%s=%q: %v", key, v, err)
	}
	return d
}
