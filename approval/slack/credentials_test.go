package slack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
)

func TestCredentialsFromSecret(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    map[string]string
		wantErr []string
	}{
		{name: "http interactions", data: map[string]string{"bot-token": "xoxb-1", "signing-secret": "s"}},
		{name: "socket mode only", data: map[string]string{"bot-token": "xoxb-1", "app-token": "xapp-1"}},
		{name: "trailing newline from echo", data: map[string]string{"bot-token": "xoxb-1\n", "signing-secret": " s\n"}},
		{name: "no bot token", data: map[string]string{"signing-secret": "s"}, wantErr: []string{"key bot-token is missing"}},
		{name: "user token", data: map[string]string{"bot-token": "xoxp-1", "signing-secret": "s"}, wantErr: []string{"key bot-token does not hold a bot token"}},
		{name: "bot token as app token", data: map[string]string{"bot-token": "xoxb-1", "app-token": "xoxb-2"}, wantErr: []string{"key app-token does not hold an app-level token"}},
		{name: "nothing verifies clicks", data: map[string]string{"bot-token": "xoxb-1"}, wantErr: []string{"neither key signing-secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			c, err := sluiceslack.CredentialsFromSecret(data)
			if len(tc.wantErr) > 0 {
				for _, want := range tc.wantErr {
					g.Expect(err).To(MatchError(ContainSubstring(want)))
				}
				for _, v := range tc.data {
					if len(v) > 3 {
						g.Expect(err.Error()).NotTo(ContainSubstring(v), "errors name keys, never values")
					}
				}
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.BotToken.Reveal()).To(Equal("xoxb-1"))
		})
	}
}

// However a Credentials value ends up in a log line or an error, the
// secrets do not.
func TestCredentialsDoNotPrint(t *testing.T) {
	g := NewWithT(t)
	c, err := sluiceslack.CredentialsFromSecret(map[string][]byte{
		"bot-token": []byte("xoxb-very-secret"), "signing-secret": []byte("signing-very-secret"), "app-token": []byte("xapp-very-secret"),
	})
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, c.BotToken), fmt.Sprintf(verb, &c))
	}
	js, err := json.Marshal(c)
	g.Expect(err).NotTo(HaveOccurred())
	out = append(out, string(js), fmt.Errorf("wrapped: %v: %w", c, errors.New("x")).Error())
	log := funcr.New(func(prefix, args string) { out = append(out, args) }, funcr.Options{})
	log.Info("credentials", "creds", c, "bot", c.BotToken)
	for _, s := range out {
		g.Expect(s).NotTo(ContainSubstring("very-secret"), s)
	}
	g.Expect(fmt.Sprint(c.BotToken)).To(Equal("[redacted]"))
}
