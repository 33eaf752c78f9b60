package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/sluice-dev/sluice/approval/slack"
)

// SlackOptions configure receiving Slack clicks. Posting needs none of
// this: each Rollout names the Secret with its bot token.
type SlackOptions struct {
	// APIURL is Slack's Web API (https://slack.com/api/ when empty).
	APIURL string
	// Secret ("namespace/name") holds the Slack app's signing-secret (for
	// the HTTP endpoint), bot-token (to update messages) and optionally
	// app-token (Socket Mode). Empty: no clicks are received.
	Secret string
	// Addr serves the interactions endpoint (POST /slack/interactions);
	// empty or "0" serves none (Socket Mode only).
	Addr string
}

// addSlack registers the interaction endpoint and, with an app token, the
// Socket Mode client.
func addSlack(mgr ctrl.Manager, o SlackOptions) error {
	if o.Secret == "" {
		return nil
	}
	ns, name, ok := strings.Cut(o.Secret, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--slack-secret %q: want namespace/name", o.Secret)
	}
	s := &corev1.Secret{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mgr.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return fmt.Errorf("reading the Slack app's Secret %s (--slack-secret): %w", o.Secret, err)
	}
	creds, err := slack.CredentialsFromSecret(s.Data)
	if err != nil {
		return fmt.Errorf("Secret %s (--slack-secret): %w", o.Secret, err)
	}
	var opts []slackapi.Option
	if o.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(o.APIURL))
	}
	api := slackapi.New(creds.BotToken.Reveal(), opts...)
	log := ctrl.Log.WithName("slack")
	rec := &slack.KubeRecorder{Client: mgr.GetClient(), Reader: mgr.GetClient(), Groups: slack.NewUserGroups(api)}

	if o.Addr != "" && o.Addr != "0" && !creds.SigningSecret.IsZero() {
		h, err := slack.NewHandler(slack.HandlerOptions{SigningSecrets: []slack.Secret{creds.SigningSecret}, Recorder: rec, API: api, Log: log})
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/slack/interactions", h)
		srv := &http.Server{Addr: o.Addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
		// Every replica answers clicks: recording is idempotent.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			ln, err := net.Listen("tcp", o.Addr)
			if err != nil {
				return fmt.Errorf("serving Slack interactions on %s: %w", o.Addr, err)
			}
			log.Info("serving Slack interactions", "addr", ln.Addr().String(), "path", "/slack/interactions")
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
				_ = h.Wait(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})); err != nil {
			return err
		}
	}
	if !creds.AppToken.IsZero() {
		if err := mgr.Add(leaderOnly(func(ctx context.Context) error {
			return slack.RunSocketMode(ctx, creds.AppToken, creds.BotToken, rec, slack.WithAPIURL(o.APIURL), slack.WithLogger(log))
		})); err != nil {
			return err
		}
	}
	return nil
}

// leaderOnly runs f on the elected leader only: one Socket Mode
// connection per installation is enough.
type leaderOnly func(ctx context.Context) error

func (f leaderOnly) Start(ctx context.Context) error { return f(ctx) }
func (leaderOnly) NeedLeaderElection() bool          { return true }
