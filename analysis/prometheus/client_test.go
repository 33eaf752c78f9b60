package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

const (
	token    = "s3cr3t-t0ken-value"
	password = "hunter2-password"
)

func dur(s string) *v1alpha1.Duration { d := v1alpha1.Duration(s); return &d }

// fakeProm answers /api/v1/query and /api/v1/query_range with body and
// status, and records the last request's headers.
type fakeProm struct {
	mu      sync.Mutex
	status  int
	body    string
	delay   time.Duration
	headers http.Header
	form    map[string]string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.headers = r.Header.Clone()
	f.form = map[string]string{}
	for k := range r.Form {
		f.form[k] = r.Form.Get(k)
	}
	status, body, delay := f.status, f.body, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if status == 0 {
		status = 200
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fakeProm) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

func success(resultType, result string) string {
	return fmt.Sprintf(`{"status":"success","data":{"resultType":%q,"result":%s}}`, resultType, result)
}

func newFake(t *testing.T, server v1alpha1.PrometheusServer, creds Credentials) (*fakeProm, *Client) {
	t.Helper()
	f := &fakeProm{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	server.Address = srv.URL
	c, err := New(server, creds)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestQueryResults(t *testing.T) {
	f, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{})
	tests := []struct {
		name       string
		body       string
		values     []float64
		noData     bool
		text       string
		message    []string
		rangeQuery bool
	}{
		{"scalar", success("scalar", `[1700000000, "0.25"]`), []float64{0.25}, false, "0.25", nil, false},
		{"one series", success("vector", `[{"metric":{"code":"500"},"value":[1700000000,"0.01"]}]`), []float64{0.01}, false, "0.01", []string{`1 series: {code="500"}=0.01`}, false},
		{"several series, sorted by labels", success("vector", `[{"metric":{"pod":"b"},"value":[1,"2"]},{"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"c"},"value":[1,"3"]}]`),
			[]float64{1, 2, 3}, false, "[1, 2, 3]", []string{`3 series: {pod="a"}=1, {pod="b"}=2, {pod="c"}=3`}, false},
		{"empty vector", success("vector", `[]`), nil, true, "", []string{"no series (empty vector)"}, false},
		{"NaN", success("vector", `[{"metric":{},"value":[1,"NaN"]}]`), nil, true, "NaN", []string{NaNMessage}, false},
		{"NaN scalar", success("scalar", `[1,"NaN"]`), nil, true, "NaN", []string{NaNMessage}, false},
		{"some series NaN", success("vector", `[{"metric":{"pod":"a"},"value":[1,"NaN"]},{"metric":{"pod":"b"},"value":[1,"0.5"]}]`),
			[]float64{0.5}, false, "0.5", []string{"1 NaN series left out"}, false},
		{"+Inf", success("vector", `[{"metric":{},"value":[1,"+Inf"]}]`), []float64{math.Inf(1)}, false, "+Inf", []string{"+Inf (a division by zero, or histogram_quantile above the highest finite bucket); infinities are compared as values"}, false},
		{"-Inf among values", success("vector", `[{"metric":{"a":"1"},"value":[1,"-Inf"]},{"metric":{"a":"2"},"value":[1,"3"]}]`), []float64{math.Inf(-1), 3}, false, "[-Inf, 3]", []string{"1 of 2 values are -Inf"}, false},
		{"matrix", success("matrix", `[{"metric":{"pod":"b"},"values":[[1,"3"],[2,"4"]]},{"metric":{"pod":"a"},"values":[[1,"1"],[2,"NaN"],[3,"2"]]}]`),
			[]float64{1, 2, 3, 4}, false, "[1, 2, 3, 4]", []string{`{pod="a"} (3 samples)`, "1 NaN samples left out"}, true},
		{"empty matrix", success("matrix", `[]`), nil, true, "", []string{"no series (empty matrix)"}, true},
		{"warnings", `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"warnings":["PromQL info: metric might not be a counter"]}`, []float64{1}, false, "1", []string{"Prometheus warned: PromQL info"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(200, tt.body)
			var v Value
			var err error
			if tt.rangeQuery {
				v, err = c.QueryRange(context.Background(), "q", v1alpha1.QueryRange{Window: "1m", Step: "10s"}, time.Unix(1700000000, 0))
			} else {
				v, err = c.Query(context.Background(), "q", time.Time{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.NoData != tt.noData || fmt.Sprint(v.Values) != fmt.Sprint(tt.values) || v.Text != tt.text {
				t.Fatalf("got values %v noData %v text %q, want %v %v %q", v.Values, v.NoData, v.Text, tt.values, tt.noData, tt.text)
			}
			for _, m := range tt.message {
				if !strings.Contains(v.Message, m) {
					t.Errorf("message %q does not contain %q", v.Message, m)
				}
			}
		})
	}
}

func TestQueryRangeParameters(t *testing.T) {
	f, c := newFake(t, v1alpha1.PrometheusServer{Timeout: dur("10s")}, Credentials{})
	f.set(200, success("matrix", `[]`))
	end := time.Unix(1700000000, 0)
	if _, err := c.QueryRange(context.Background(), `rate(x[1m])`, v1alpha1.QueryRange{Window: "5m", Step: "15s"}, end); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]string{"query": "rate(x[1m])", "start": "1699999700", "end": "1700000000", "step": "15", "timeout": "9s"}
	for k, v := range want {
		if f.form[k] != v {
			t.Errorf("%s = %q, want %q (form %v)", k, f.form[k], v, f.form)
		}
	}
}

func TestSamples(t *testing.T) {
	f, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{})
	f.set(200, success("matrix", `[{"metric":{"pod":"b"},"values":[[1,"3"],[2,"+Inf"]]},{"metric":{"pod":"a"},"values":[[1,"NaN"],[2,"1"]]}]`))
	s, err := c.Samples(context.Background(), "q", v1alpha1.QueryRange{Window: "1m", Step: "1s"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(s.Values) != fmt.Sprint([]float64{1, 3, math.Inf(1)}) || s.NaN != 1 || s.Series != 2 {
		t.Fatalf("got %+v", s)
	}
	f.set(200, success("vector", `[]`))
	_, err = c.Samples(context.Background(), "q", v1alpha1.QueryRange{Window: "1m", Step: "1s"}, time.Time{})
	if pe := asProviderError(t, err); pe.Reason != ReasonUnsupportedResult {
		t.Fatalf("got %v", err)
	}
}

func TestRangeLimits(t *testing.T) {
	_, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{})
	for _, r := range []v1alpha1.QueryRange{{Window: "0s", Step: "1s"}, {Window: "1m", Step: "x"}, {Window: "24h", Step: "1s"}} {
		_, err := c.QueryRange(context.Background(), "q", r, time.Time{})
		if pe := asProviderError(t, err); pe.Reason != ReasonConfig {
			t.Fatalf("%v: got %v", r, err)
		}
	}
}

func TestUnsupportedResults(t *testing.T) {
	f, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{})
	for _, body := range []string{
		success("string", `[1, "hello"]`),
		success("vector", `[{"metric":{},"histogram":[1,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]}]`),
	} {
		f.set(200, body)
		_, err := c.Query(context.Background(), "q", time.Time{})
		pe := asProviderError(t, err)
		if pe.Reason != ReasonUnsupportedResult || pe.Address != c.Address() {
			t.Fatalf("got %#v", pe)
		}
	}
}

func asProviderError(t *testing.T, err error) *ProviderError {
	t.Helper()
	var pe *ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ProviderError", err, err)
	}
	return pe
}

func TestQueryErrors(t *testing.T) {
	creds := Credentials{BearerToken: token}
	f, c := newFake(t, v1alpha1.PrometheusServer{Timeout: dur("300ms")}, creds)
	tests := []struct {
		name    string
		status  int
		body    string
		delay   time.Duration
		reason  Reason
		message string
	}{
		{"parse error", 400, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`, 0, ReasonBadQuery, `bad query: invalid parameter "query": 1:5: parse error: unclosed left parenthesis`},
		{"execution error", 422, `{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}`, 0, ReasonExecution, "query failed: found duplicate series"},
		{"server timeout", 503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`, 0, ReasonTimeout, "Prometheus timed out evaluating the query"},
		{"unauthorized, body echoes the header", 401, "Unauthorized: Bearer " + token, 0, ReasonHTTP, "HTTP 401 Unauthorized: the credentials were refused"},
		{"not found", 404, "404 page not found", 0, ReasonHTTP, "HTTP 404 Not Found: no Prometheus API here"},
		{"bad gateway", 502, "<html>\n<body>Bad Gateway</body>\n</html>", 0, ReasonHTTP, "HTTP 502 Bad Gateway: <html> <body>Bad Gateway</body> </html>"},
		{"not JSON", 200, "hello", 0, ReasonBadResponse, "not a Prometheus API response"},
		{"client timeout", 200, success("scalar", `[1,"1"]`), 2 * time.Second, ReasonTimeout, "no answer within 300ms (timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.status, f.body, f.delay = tt.status, tt.body, tt.delay
			f.mu.Unlock()
			_, err := c.Query(context.Background(), "q", time.Time{})
			pe := asProviderError(t, err)
			if pe.Reason != tt.reason || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %s %q, want %s containing %q", pe.Reason, err, tt.reason, tt.message)
			}
			if !strings.HasPrefix(err.Error(), "prometheus "+c.Address()+": ") {
				t.Fatalf("message %q does not name the address", err)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), token) {
				t.Fatalf("the token leaked: %q", err)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	f, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{})
	f.mu.Lock()
	f.body, f.delay = success("scalar", `[1,"1"]`), 5*time.Second
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.Query(ctx, "q", time.Time{})
	if pe := asProviderError(t, err); pe.Reason != ReasonCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New(v1alpha1.PrometheusServer{Address: "http://" + addr}, Credentials{Username: "u", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "up", time.Time{})
	pe := asProviderError(t, err)
	if pe.Reason != ReasonUnreachable || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), password) {
		t.Fatalf("got %s %q", pe.Reason, err)
	}
}

func TestUnknownHost(t *testing.T) {
	c, err := New(v1alpha1.PrometheusServer{Address: "http://no-such-host.invalid:9090"}, Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "up", time.Time{})
	if pe := asProviderError(t, err); pe.Reason != ReasonUnreachable && pe.Reason != ReasonTimeout {
		t.Fatalf("got %s %q", pe.Reason, err)
	}
}

func TestAuthAndHeaders(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		f, c := newFake(t, v1alpha1.PrometheusServer{Headers: map[string]string{"X-Scope-OrgID": "team-a", "Authorization": "ignored"}}, Credentials{BearerToken: token})
		f.set(200, success("scalar", `[1,"1"]`))
		if _, err := c.Query(context.Background(), "q", time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := f.headers.Get("Authorization"); got != "Bearer "+token {
			t.Fatalf("Authorization %q", got)
		}
		if got := f.headers.Get("X-Scope-OrgID"); got != "team-a" {
			t.Fatalf("X-Scope-OrgID %q", got)
		}
	})
	t.Run("basic", func(t *testing.T) {
		f, c := newFake(t, v1alpha1.PrometheusServer{}, Credentials{Username: "sluice", Password: password})
		f.set(200, success("scalar", `[1,"1"]`))
		if _, err := c.Query(context.Background(), "q", time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := f.headers.Get("Authorization"); got != "Basic c2x1aWNlOmh1bnRlcjItcGFzc3dvcmQ=" {
			t.Fatalf("Authorization %q", got)
		}
	})
	t.Run("no credentials to another host on redirect", func(t *testing.T) {
		other := &fakeProm{body: success("scalar", `[1,"1"]`)}
		otherSrv := httptest.NewServer(other)
		defer otherSrv.Close()
		// localhost and 127.0.0.1 are different hosts to the client.
		otherURL := strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1)
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherURL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		defer redirect.Close()
		c, err := New(v1alpha1.PrometheusServer{Address: redirect.URL}, Credentials{BearerToken: token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Query(context.Background(), "q", time.Time{})
		if pe := asProviderError(t, err); pe.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("got %v", err)
		}
		other.mu.Lock()
		defer other.mu.Unlock()
		if other.headers != nil {
			t.Fatalf("the other host was asked, with Authorization %q", other.headers.Get("Authorization"))
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		server v1alpha1.PrometheusServer
		creds  Credentials
		want   string
	}{
		{"no scheme", v1alpha1.PrometheusServer{Address: "prometheus:9090"}, Credentials{}, "not an http:// or https:// URL"},
		{"userinfo", v1alpha1.PrometheusServer{Address: "http://admin:" + password + "@prom:9090"}, Credentials{}, "must not contain credentials"},
		{"both token and basic", v1alpha1.PrometheusServer{Address: "http://prom:9090"}, Credentials{BearerToken: token, Username: "u"}, "both a token and a username"},
		{"password without username", v1alpha1.PrometheusServer{Address: "http://prom:9090"}, Credentials{Password: password}, "password but no username"},
		{"bad timeout", v1alpha1.PrometheusServer{Address: "http://prom:9090", Timeout: dur("soon")}, Credentials{}, "not a positive duration"},
		{"bad header name", v1alpha1.PrometheusServer{Address: "http://prom:9090", Headers: map[string]string{"Bad Header": "x"}}, Credentials{}, "not a valid HTTP header name"},
		{"header injection", v1alpha1.PrometheusServer{Address: "http://prom:9090", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, Credentials{}, "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.server, tt.creds)
			pe := asProviderError(t, err)
			if pe.Reason != ReasonConfig || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), token) {
				t.Fatalf("a secret leaked: %q", err)
			}
		})
	}
}

func TestCredentialsFormatting(t *testing.T) {
	for _, c := range []Credentials{{BearerToken: token}, {Username: "u", Password: password}} {
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint(&c)} {
			if strings.Contains(s, token) || strings.Contains(s, password) {
				t.Fatalf("formatted credentials show the secret: %s", s)
			}
		}
	}
}

func TestLimitedBody(t *testing.T) {
	b := &limitedBody{ReadCloser: io.NopCloser(strings.NewReader("0123456789")), left: 10}
	if got, err := io.ReadAll(b); err != nil || string(got) != "0123456789" {
		t.Fatalf("exactly the limit: %q %v", got, err)
	}
	b = &limitedBody{ReadCloser: io.NopCloser(strings.NewReader("0123456789x")), left: 10}
	if _, err := io.ReadAll(b); !errors.Is(err, errTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestInterpretNil(t *testing.T) {
	v, err := Interpret(nil, nil)
	if err != nil || !v.NoData {
		t.Fatalf("got %+v %v", v, err)
	}
	v, err = Interpret(model.Vector{}, nil)
	if err != nil || !v.NoData || v.Message != "no series (empty vector)" {
		t.Fatalf("got %+v %v", v, err)
	}
}

func TestMessagesAreBounded(t *testing.T) {
	var vec model.Vector
	for i := 0; i < 500; i++ {
		vec = append(vec, &model.Sample{Metric: model.Metric{"pod": model.LabelValue(strings.Repeat("p", 300) + fmt.Sprint(i))}, Value: model.SampleValue(i)})
	}
	v, err := Interpret(vec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Values) != 500 || len(v.Message) > maxMessageLen+len("…") || !strings.Contains(v.Message, "more") || !strings.Contains(v.Text, "… 480 more") {
		t.Fatalf("message %d bytes %q, text %q", len(v.Message), v.Message, v.Text)
	}
}

func TestServerTimeoutIsWholeSeconds(t *testing.T) {
	for timeout, want := range map[string]string{"5s": "4s", "10s": "9s", "2m": "1m48s", "500ms": ""} {
		f, c := newFake(t, v1alpha1.PrometheusServer{Timeout: dur(timeout)}, Credentials{})
		f.set(200, success("scalar", `[1,"1"]`))
		if _, err := c.Query(context.Background(), "q", time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		got := f.form["timeout"]
		f.mu.Unlock()
		if got != want {
			t.Errorf("timeout %s sends %q, want %q", timeout, got, want)
		}
	}
}
