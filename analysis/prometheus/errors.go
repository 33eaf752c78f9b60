package prometheus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Reason classifies a ProviderError.
type Reason string

const (
	// ReasonConfig: the PrometheusServer or the credentials cannot work
	// (bad address, bad header, both a token and a username).
	ReasonConfig Reason = "InvalidConfig"
	// ReasonUnreachable: no HTTP answer at all (connection refused, unknown
	// host, TLS failure).
	ReasonUnreachable Reason = "Unreachable"
	// ReasonTimeout: no answer within the timeout, or Prometheus gave up
	// evaluating the query.
	ReasonTimeout Reason = "Timeout"
	// ReasonCanceled: the caller's context was cancelled.
	ReasonCanceled Reason = "Canceled"
	// ReasonHTTP: an HTTP error status that is not a PromQL error (401,
	// 403, 404, 5xx from Prometheus or a proxy in front of it).
	ReasonHTTP Reason = "HTTPError"
	// ReasonBadQuery: Prometheus refused the query (a PromQL parse error,
	// a bad parameter).
	ReasonBadQuery Reason = "BadQuery"
	// ReasonExecution: the query parsed but failed to evaluate (for
	// example many-to-many matching, too many samples).
	ReasonExecution Reason = "ExecutionError"
	// ReasonBadResponse: the answer is not a Prometheus API response, or is
	// too large.
	ReasonBadResponse Reason = "BadResponse"
	// ReasonUnsupportedResult: the query returned a type a measurement cannot
	// use (a string, native histograms).
	ReasonUnsupportedResult Reason = "UnsupportedResult"
)

// ProviderError is a measurement Prometheus could not provide. The caller
// records it as an Error measurement, which is retried at the next interval.
// Its message names the Prometheus address and what went wrong; it never
// contains credentials or header values.
type ProviderError struct {
	Reason Reason
	// Address of the Prometheus server.
	Address string
	// StatusCode is the HTTP status, when there was an HTTP answer.
	StatusCode int
	// Message explains the error.
	Message string

	cause error
}

func (e *ProviderError) Error() string {
	if e.Address == "" {
		return "prometheus: " + e.Message
	}
	return fmt.Sprintf("prometheus %s: %s", e.Address, e.Message)
}

// Unwrap returns the underlying error, so that errors.Is(err,
// context.DeadlineExceeded) works. Its text may be less tidy than Message but
// holds no credentials either: they only ever travel in request headers.
func (e *ProviderError) Unwrap() error { return e.cause }

// maxDetail bounds the part of a response body quoted in a message.
const maxDetail = 300

// classify turns what the client returned into a ProviderError.
func (c *Client) classify(ctx context.Context, err error, status int) *ProviderError {
	pe := &ProviderError{Address: c.address, StatusCode: status, cause: err}
	var apiErr *v1.Error
	switch {
	case errors.Is(err, errTooLarge):
		pe.Reason = ReasonBadResponse
		pe.Message = fmt.Sprintf("the response is larger than %d MiB; aggregate the query", maxResponseBytes>>20)
	case errors.As(err, &apiErr):
		c.classifyAPI(pe, apiErr)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		pe.Reason = ReasonTimeout
		pe.Message = fmt.Sprintf("no answer within %s (timeout)", c.timeout)
	case errors.Is(err, context.Canceled):
		pe.Reason = ReasonCanceled
		pe.Message = "the query was cancelled"
	default:
		c.classifyTransport(pe, err)
	}
	pe.Message = c.redact(pe.Message)
	return pe
}

func (c *Client) classifyAPI(pe *ProviderError, e *v1.Error) {
	msg := oneLine(e.Msg)
	if e.Type == v1.ErrClient || e.Type == v1.ErrServer {
		// Prometheus answers a query timeout with 503 and an API error
		// body, which the client reports as a bare HTTP error.
		var body struct {
			Status    string       `json:"status"`
			ErrorType v1.ErrorType `json:"errorType"`
			Error     string       `json:"error"`
		}
		if json.Unmarshal([]byte(e.Detail), &body) == nil && body.Status == "error" && body.Error != "" {
			switch body.ErrorType {
			case v1.ErrTimeout, v1.ErrCanceled, v1.ErrExec, v1.ErrBadData:
				e = &v1.Error{Type: body.ErrorType, Msg: body.Error}
				msg = oneLine(body.Error)
			default:
				e = &v1.Error{Type: e.Type, Msg: e.Msg, Detail: body.Error}
			}
		}
	}
	if e.Type == v1.ErrBadResponse && strings.Contains(msg, `unexpected value type "string"`) {
		pe.Reason = ReasonUnsupportedResult
		pe.Message = "the query returns a string; a metric needs a number"
		return
	}
	switch e.Type {
	case v1.ErrBadData:
		pe.Reason = ReasonBadQuery
		pe.Message = "bad query: " + msg
	case v1.ErrExec:
		pe.Reason = ReasonExecution
		pe.Message = "query failed: " + msg
	case v1.ErrTimeout:
		pe.Reason = ReasonTimeout
		pe.Message = "Prometheus timed out evaluating the query: " + msg
	case v1.ErrCanceled:
		pe.Reason = ReasonCanceled
		pe.Message = "Prometheus cancelled the query: " + msg
	case v1.ErrClient, v1.ErrServer:
		pe.Reason = ReasonHTTP
		pe.Message = httpMessage(pe.StatusCode, msg, e.Detail)
	default: // ErrBadResponse and anything new
		pe.Reason = ReasonBadResponse
		if pe.StatusCode/100 == 3 {
			pe.Message = httpMessage(pe.StatusCode, msg, e.Detail)
			return
		}
		pe.Message = "not a Prometheus API response: " + msg
		if d := detail(e.Detail); d != "" {
			pe.Message += ": " + d
		}
	}
}

func httpMessage(status int, msg, body string) string {
	var b strings.Builder
	if status != 0 {
		fmt.Fprintf(&b, "HTTP %d %s", status, http.StatusText(status))
	} else {
		b.WriteString(msg)
	}
	switch status {
	case http.StatusUnauthorized:
		b.WriteString(": the credentials were refused; check the token or username and password in authSecretRef")
	case http.StatusForbidden:
		b.WriteString(": access denied; check the credentials in authSecretRef and the proxy's permissions")
	case http.StatusNotFound:
		b.WriteString(": no Prometheus API here; check prometheus.address (it should be the server's root, e.g. http://prometheus.monitoring:9090)")
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		b.WriteString(": a redirect that sluice does not follow (only redirects to the same host are followed); use the final address")
	}
	if d := detail(body); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// detail is the start of a response body, on one line.
func detail(body string) string {
	body = oneLine(body)
	if len(body) > maxDetail {
		body = body[:maxDetail] + "…"
	}
	return body
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (c *Client) classifyTransport(pe *ProviderError, err error) {
	pe.Reason = ReasonUnreachable
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		recErr   tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		pe.Message = "unreachable: connection refused (is Prometheus running and is prometheus.address right?)"
	case errors.Is(err, syscall.ECONNRESET):
		pe.Message = "unreachable: connection reset by the server"
	case errors.As(err, &dnsErr):
		pe.Message = fmt.Sprintf("unreachable: cannot resolve host %q", dnsErr.Name)
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostname):
		pe.Message = "unreachable: TLS certificate not trusted: " + oneLine(innermost(err).Error())
	case errors.As(err, &recErr):
		pe.Message = "unreachable: the server does not speak TLS; use http:// in prometheus.address"
	case errors.As(err, &netErr) && netErr.Timeout():
		pe.Reason = ReasonTimeout
		pe.Message = fmt.Sprintf("no answer within %s (timeout)", c.timeout)
	default:
		pe.Message = "unreachable: " + oneLine(innermost(err).Error())
	}
}

// innermost drops url.Error's "Post \"http://…/api/v1/query\":" prefix,
// which only repeats the address.
func innermost(err error) error {
	var u *url.Error
	if errors.As(err, &u) && u.Err != nil {
		return u.Err
	}
	return err
}

// redact removes every secret the client holds from a message. Messages are
// built without them in the first place; this is a second guard against a
// server or proxy that echoes request headers in its error body.
func (c *Client) redact(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}
