package controllers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// NotificationsConfigMap, in a Rollout's namespace, configures Slack
// notifications for every Rollout there without spec.notifications, so a
// team sets its channel once:
//
//	slack.channel:    C0123DEPLOYS
//	slack.secretName: slack-bot          # key bot-token
//	slack.events:     Aborted,Promoted   # optional; default all
//
// The manager caches only ConfigMaps of this name.
const NotificationsConfigMap = "sluice-notifications"

// Only ConfigMaps of that name: the manager's cache lists and watches them
// with a metadata.name field selector, which RBAC authorizes by name.
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=sluice-notifications,verbs=get;list;watch

// slackConfig is the Slack configuration that applies to the Rollout:
// spec.notifications when set (an empty one turns notifications off),
// else the namespace's NotificationsConfigMap.
func (p *pass) slackConfig() *sluicev1.SlackNotifications {
	if n := p.ro.Spec.Notifications; n != nil {
		return n.Slack
	}
	if p.nsSlackRead {
		return p.nsSlack
	}
	p.nsSlackRead = true
	cm := &corev1.ConfigMap{}
	if err := p.r.Client.Get(context.Background(), client.ObjectKey{Namespace: p.ro.Namespace, Name: NotificationsConfigMap}, cm); err != nil {
		return nil
	}
	channel, secret := strings.TrimSpace(cm.Data["slack.channel"]), strings.TrimSpace(cm.Data["slack.secretName"])
	if channel == "" || secret == "" {
		return nil
	}
	cfg := &sluicev1.SlackNotifications{Channel: channel, SecretRef: sluicev1.LocalSecretReference{Name: secret}}
	for _, e := range strings.Split(cm.Data["slack.events"], ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.Events = append(cfg.Events, e)
		}
	}
	p.nsSlack = cfg
	return cfg
}
