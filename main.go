// The sluice manager: the Rollout controller with leader election, health
// probes and a Prometheus metrics endpoint.
package main

import (
	"flag"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sluice-dev/sluice/internal/manager"
)

func main() {
	var o manager.Options
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "elect a leader so only one replica acts; keep it on in clusters")
	flag.StringVar(&o.LeaderNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the manager's own)")
	flag.IntVar(&o.Concurrency, "concurrency", 8, "Rollouts reconciled at the same time")
	flag.BoolVar(&o.DisableEvents, "disable-events", false, "do not write Kubernetes Events (status and metrics still record every transition)")
	flag.StringVar(&o.GitCacheDir, "git-cache-dir", "", "directory for clones of app repos (default $SLUICE_CACHE_DIR/git, else the user cache directory)")
	flag.StringVar(&o.Slack.Secret, "slack-secret", "", "namespace/name of the Slack app's Secret (signing-secret, bot-token, optional app-token for Socket Mode); empty: approval clicks are not received")
	flag.StringVar(&o.Slack.Addr, "slack-bind-address", ":8082", "address of the Slack interactions endpoint (POST /slack/interactions); 0 disables it")
	flag.StringVar(&o.Slack.APIURL, "slack-api-url", "", "Slack Web API base URL (default https://slack.com/api/)")
	flag.DurationVar(&o.GracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "time in-flight reconciles get on shutdown")
	qps := flag.Float64("kube-api-qps", 200, "client-side rate limit towards the apiserver")
	burst := flag.Int("kube-api-burst", 400, "client-side burst towards the apiserver")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading kubeconfig")
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	mgr, err := manager.New(cfg, o)
	if err != nil {
		log.Error(err, "setting up")
		os.Exit(1)
	}
	log.Info("starting sluice manager", "leaderElection", o.LeaderElection, "concurrency", o.Concurrency)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
