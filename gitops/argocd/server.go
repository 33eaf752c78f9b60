package argocd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ServerTarget reaches the Application through Argo CD's API server, for an
// Argo CD in a cluster sluice has no credentials for. It uses the
// documented REST endpoints: GET /api/v1/applications/{name} (with
// refresh=normal to refresh) and POST /api/v1/applications/{name}/sync.
type ServerTarget struct {
	// BaseURL is the API server, https://argocd.example.com.
	BaseURL string
	// Token is an Argo CD API token (a project role or account token).
	Token     string
	Namespace string
	Name      string
	// HTTP defaults to a client with a 15 s timeout.
	HTTP *http.Client
}

func (t *ServerTarget) String() string {
	u := t.BaseURL
	if p, err := url.Parse(u); err == nil && p.User != nil {
		u = p.Redacted()
	}
	return fmt.Sprintf("Argo CD Application %s/%s (via %s)", t.Namespace, t.Name, u)
}

// Get reads the Application.
func (t *ServerTarget) Get(ctx context.Context) (*Application, error) { return t.get(ctx, false) }

// Refresh reads the Application with refresh=normal, which makes Argo CD
// compare it with Git before answering.
func (t *ServerTarget) Refresh(ctx context.Context) error {
	_, err := t.get(ctx, true)
	return err
}

func (t *ServerTarget) get(ctx context.Context, refresh bool) (*Application, error) {
	q := url.Values{}
	if t.Namespace != "" {
		q.Set("appNamespace", t.Namespace)
	}
	if refresh {
		q.Set("refresh", "normal")
	}
	body, err := t.do(ctx, http.MethodGet, "/api/v1/applications/"+url.PathEscape(t.Name)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return decode(body, t.Namespace, t.Name, "", nil)
}

// Sync asks the API server for a sync to revision. The API server itself
// refuses it while another operation runs, which is what the
// resourceVersion guard does for KubeTarget.
func (t *ServerTarget) Sync(ctx context.Context, _ *Application, revision, reason string) error {
	req := map[string]any{
		"name":     t.Name,
		"revision": revision,
		"prune":    false,
		"infos":    []Info{{Name: "Reason", Value: reason}},
	}
	if t.Namespace != "" {
		req["appNamespace"] = t.Namespace
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = t.do(ctx, http.MethodPost, "/api/v1/applications/"+url.PathEscape(t.Name)+"/sync", raw)
	return err
}

func (t *ServerTarget) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	c := t.HTTP
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(t.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("%s: %w", t, err)}
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(t.Token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, &Error{Retryable: true, Err: fmt.Errorf("%s %s: %w", method, t, err)}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, &Error{Retryable: true, Err: fmt.Errorf("reading the answer of %s: %w", t, err)}
	}
	if resp.StatusCode/100 == 2 {
		return out, nil
	}
	msg := serverMessage(out)
	e := fmt.Errorf("%s %s: HTTP %d: %s", method, t, resp.StatusCode, msg)
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &Error{Err: fmt.Errorf("%w; check the token in spec.gitops.argocd.server.tokenSecretRef and its project role (applications get, sync)", e)}
	case http.StatusNotFound:
		return nil, &Error{Err: fmt.Errorf("%w; check spec.gitops.argocd.namespace and name", e)}
	case http.StatusBadRequest:
		// Argo CD answers 400 to a sync while another operation runs;
		// that passes.
		if strings.Contains(msg, "another operation is already in progress") {
			return nil, &Error{Retryable: true, Err: e}
		}
		return nil, &Error{Err: e}
	}
	// 409 (another operation is running), 429 and 5xx pass with time.
	return nil, &Error{Retryable: true, Err: e}
}

// serverMessage is the message of an Argo CD API error body
// ({"error":…,"code":…,"message":…}), or the body itself.
func serverMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if e.Error != "" {
			return e.Error
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
