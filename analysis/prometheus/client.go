// Package prometheus is sluice's Prometheus provider: it renders a metric's
// query template with the run's arguments, runs instant and range queries
// through client_golang's API client, and turns the result into a Value a
// condition can judge, or into the sample lists a comparison needs.
//
// Errors of the server or the network are a *ProviderError, which the caller
// records as an Error measurement; a template that cannot be rendered is a
// *TemplateError. Neither ever contains credentials.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// DefaultTimeout of one query when the PrometheusServer sets none.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds a response body; a query that returns more should
// be aggregated.
const maxResponseBytes = 32 << 20

// maxRangePoints is Prometheus's own limit of points per series of a range
// query; a window/step beyond it is refused before asking.
const maxRangePoints = 11000

// Credentials authenticate to Prometheus, resolved by the caller from the
// Secret named by authSecretRef: a bearer token, or a username and password
// for basic authentication. They are sent only to the configured host, and
// never appear in errors, messages or formatted output.
type Credentials struct {
	BearerToken string
	Username    string
	Password    string
}

// String hides the credentials from fmt and loggers.
func (c Credentials) String() string {
	switch {
	case c.BearerToken != "":
		return "Credentials{bearer token: [redacted]}"
	case c.Username != "" || c.Password != "":
		return "Credentials{basic: [redacted]}"
	}
	return "Credentials{}"
}

// GoString hides the credentials from %#v.
func (c Credentials) GoString() string { return c.String() }

// Client queries one Prometheus server. It is cheap to create and safe for
// concurrent use.
type Client struct {
	api     v1.API
	address string
	timeout time.Duration
	secrets []string
}

// sharedTransport pools connections for every Client.
var sharedTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	t.ResponseHeaderTimeout = 0 // the per-query context bounds it
	return t
}()

// New returns a client for server with creds. It checks the configuration
// only; nothing is sent until a query. Errors are a *ProviderError with
// ReasonConfig.
func New(server v1alpha1.PrometheusServer, creds Credentials) (*Client, error) {
	return newClient(server, creds, sharedTransport)
}

func newClient(server v1alpha1.PrometheusServer, creds Credentials, base http.RoundTripper) (*Client, error) {
	u, err := url.Parse(server.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &ProviderError{Reason: ReasonConfig, Message: fmt.Sprintf("prometheus.address %q is not an http:// or https:// URL with a host", redactedAddress(server.Address))}
	}
	if u.User != nil {
		return nil, &ProviderError{Reason: ReasonConfig, Message: "prometheus.address must not contain credentials; put them in the Secret named by authSecretRef"}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, &ProviderError{Reason: ReasonConfig, Message: fmt.Sprintf("prometheus.address %q must not have a query or fragment", server.Address)}
	}
	address := strings.TrimRight(u.String(), "/")
	cfgErr := func(msg string) error {
		return &ProviderError{Reason: ReasonConfig, Address: address, Message: msg}
	}
	if creds.BearerToken != "" && (creds.Username != "" || creds.Password != "") {
		return nil, cfgErr("the auth Secret holds both a token and a username/password; keep one")
	}
	if creds.Password != "" && creds.Username == "" {
		return nil, cfgErr("the auth Secret holds a password but no username")
	}
	timeout := DefaultTimeout
	if server.Timeout != nil {
		if timeout = server.Timeout.Get(); timeout <= 0 {
			return nil, cfgErr(fmt.Sprintf("prometheus.timeout %q is not a positive duration", *server.Timeout))
		}
	}
	headers := make(http.Header, len(server.Headers))
	var secrets []string
	for name, value := range server.Headers {
		if !validHeaderName(name) {
			return nil, cfgErr(fmt.Sprintf("prometheus.headers: %q is not a valid HTTP header name", name))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, cfgErr(fmt.Sprintf("prometheus.headers: the value of %q contains a line break or NUL", name))
		}
		headers.Set(name, value)
		if len(value) >= 8 {
			secrets = append(secrets, value) // header values may carry tokens too
		}
	}
	for _, s := range []string{creds.BearerToken, creds.Password} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	rt := &authTransport{base: base, host: u.Host, headers: headers, creds: creds}
	hc := &http.Client{Transport: rt, CheckRedirect: sameHostRedirect}
	ac, err := api.NewClient(api.Config{Address: address, Client: hc})
	if err != nil {
		return nil, cfgErr("prometheus.address: " + err.Error())
	}
	return &Client{api: v1.NewAPI(ac), address: address, timeout: timeout, secrets: secrets}, nil
}

// redactedAddress hides the userinfo of an address that failed to parse.
func redactedAddress(a string) string {
	if at := strings.LastIndex(a, "@"); at >= 0 {
		if scheme := strings.Index(a, "://"); scheme >= 0 && scheme < at {
			return a[:scheme+3] + "[redacted]@" + a[at+1:]
		}
		return "[redacted]@" + a[at+1:]
	}
	return a
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// sameHostRedirect follows a redirect only to the same host, and never from
// https to http, so that credentials cannot be sent elsewhere.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return http.ErrUseLastResponse
	}
	first := via[0].URL
	if req.URL.Hostname() != first.Hostname() || (first.Scheme == "https" && req.URL.Scheme != "https") {
		return http.ErrUseLastResponse
	}
	return nil
}

// Address is the server's address, as shown in messages.
func (c *Client) Address() string { return c.address }

// Query runs an instant query at time at (the server's now when zero).
func (c *Client) Query(ctx context.Context, query string, at time.Time) (Value, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, status := withStatus(ctx)
	v, warnings, _, err := c.api.Query(ctx, query, at, v1.WithTimeout(c.serverTimeout()))
	if err != nil {
		return Value{}, c.classify(ctx, err, status.code)
	}
	out, err := Interpret(v, warnings)
	return out, c.attach(err)
}

// QueryRange runs a range query over the window that ends at end, at
// r.Step; see Value for how a matrix becomes values.
func (c *Client) QueryRange(ctx context.Context, query string, r v1alpha1.QueryRange, end time.Time) (Value, error) {
	m, warnings, err := c.matrix(ctx, query, r, end)
	if err != nil {
		return Value{}, err
	}
	out, err := Interpret(m, warnings)
	return out, c.attach(err)
}

// Samples runs a range query as QueryRange does and returns every sample
// value, for a comparison metric's canary or baseline side.
func (c *Client) Samples(ctx context.Context, query string, r v1alpha1.QueryRange, end time.Time) (Samples, error) {
	m, warnings, err := c.matrix(ctx, query, r, end)
	if err != nil {
		return Samples{}, err
	}
	for _, s := range m {
		if len(s.Histograms) > 0 {
			return Samples{}, c.attach(unsupported("the query returns native histograms; wrap it in histogram_quantile(), histogram_count() or histogram_sum()"))
		}
	}
	s := Flatten(m)
	s.Warnings = warnings
	return s, nil
}

func (c *Client) matrix(ctx context.Context, query string, r v1alpha1.QueryRange, end time.Time) (model.Matrix, []string, error) {
	window, step := r.Window.Get(), r.Step.Get()
	if window <= 0 || step <= 0 {
		return nil, nil, &ProviderError{Reason: ReasonConfig, Address: c.address, Message: fmt.Sprintf("range window %q and step %q must be positive durations", r.Window, r.Step)}
	}
	if window/step > maxRangePoints {
		return nil, nil, &ProviderError{Reason: ReasonConfig, Address: c.address, Message: fmt.Sprintf("range window %s at step %s is %d points per series, above Prometheus's limit of %d; use a larger step", window, step, window/step, maxRangePoints)}
	}
	if end.IsZero() {
		end = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, status := withStatus(ctx)
	v, warnings, _, err := c.api.QueryRange(ctx, query, v1.Range{Start: end.Add(-window), End: end, Step: step}, v1.WithTimeout(c.serverTimeout()))
	if err != nil {
		return nil, nil, c.classify(ctx, err, status.code)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, nil, c.attach(unsupported(fmt.Sprintf("a range query returned %s instead of a matrix", typeName(v))))
	}
	return m, warnings, nil
}

// serverTimeout asks Prometheus to give up a little before the client does,
// so that a slow query ends with Prometheus's own explanation. It is whole
// seconds: the client sends Go's duration text, and Prometheus refuses
// fractions such as "4.5s". Below a second none is sent.
func (c *Client) serverTimeout() time.Duration {
	return (c.timeout * 9 / 10).Truncate(time.Second)
}

// attach puts the client's address on an error of Interpret.
func (c *Client) attach(err error) error {
	var pe *ProviderError
	if errors.As(err, &pe) && pe.Address == "" {
		pe.Address = c.address
	}
	return err
}

// authTransport adds the configured headers and credentials to requests for
// the configured host, records the response status for error messages, and
// bounds the response body.
type authTransport struct {
	base    http.RoundTripper
	host    string
	headers http.Header
	creds   Credentials
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.URL.Host == t.host {
		for name, values := range t.headers {
			r.Header[name] = append([]string(nil), values...)
		}
		switch {
		case t.creds.BearerToken != "":
			r.Header.Set("Authorization", "Bearer "+t.creds.BearerToken)
		case t.creds.Username != "":
			r.SetBasicAuth(t.creds.Username, t.creds.Password)
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if s, ok := req.Context().Value(statusKey{}).(*statusRecorder); ok {
		s.code = resp.StatusCode
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxResponseBytes}
	return resp, nil
}

var errTooLarge = errors.New("response too large")

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return b.ReadCloser.Read(p)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

type statusKey struct{}

type statusRecorder struct{ code int }

func withStatus(ctx context.Context) (context.Context, *statusRecorder) {
	s := &statusRecorder{}
	return context.WithValue(ctx, statusKey{}, s), s
}

func typeName(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
