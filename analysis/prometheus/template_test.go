package prometheus

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var hostile = []string{
	`"}[5m]) or vector(1) #`,
	`\`,
	`\"`,
	`a\nb`,
	"line\nbreak",
	"cr\rlf\r\n",
	"tab\there",
	"nul\x00byte",
	"bell\a",
	`'`,
	"`",
	"é ü 日本 🚀",
	"\u2028\u2029\u200b\ufeff",
	"\xff\xfe invalid utf-8",
	`{{args.other}}`,
	`.*`,
	`a|b`,
	`$1`,
	"",
}

func TestRenderEscapesInDoubleQuotes(t *testing.T) {
	for _, v := range hostile {
		q, err := Render(`sum(rate(http_requests_total{pod="{{args.v}}"}[5m]))`, map[string]string{"v": v, "other": "X"})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(q, `sum(rate(http_requests_total{pod="`), `"}[5m]))`)
		if lit == q {
			t.Fatalf("%q: the query's shape changed: %s", v, q)
		}
		// PromQL's double-quoted strings unquote as Go's do.
		got, err := strconv.Unquote(`"` + lit + `"`)
		if err != nil || got != v {
			t.Fatalf("%q: literal %s reads back as %q (%v)", v, lit, got, err)
		}
		if strings.ContainsAny(lit, "\n\r") || !utf8.ValidString(lit) {
			t.Fatalf("%q: literal %q has a raw line break or invalid UTF-8", v, lit)
		}
	}
}

// endOfString scans a single- or double-quoted PromQL string body the way the
// lexer does and returns where the string ends.
func endOfString(s string, quote byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case quote, '\n':
			return i
		}
	}
	return len(s)
}

func TestRenderEscapesInSingleQuotes(t *testing.T) {
	for _, v := range hostile {
		q, err := Render(`up{pod='{{args.v}}', job="x"}`, map[string]string{"v": v, "other": "X"})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		body := strings.TrimPrefix(q, `up{pod='`)
		end := endOfString(body, '\'')
		if body[end:] != `', job="x"}` {
			t.Fatalf("%q: the string ends early: %s", v, q)
		}
		// Turned into a double-quoted literal, it reads back as the value.
		lit := strings.ReplaceAll(strings.ReplaceAll(body[:end], `\'`, `'`), `"`, `\"`)
		if got, err := strconv.Unquote(`"` + lit + `"`); err != nil || got != v {
			t.Fatalf("%q: reads back as %q (%v)", v, got, err)
		}
	}
}

func TestRenderRegexMatcherQuotesMeta(t *testing.T) {
	args := map[string]string{"v": `a|.*`, "w": "x.y"}
	q, err := Render(`up{pod=~"{{args.v}}-[0-9]+", job !~ "{{args.w}}", svc="{{args.w}}"}`, args)
	if err != nil {
		t.Fatal(err)
	}
	want := `up{pod=~"a\\|\\.\\*-[0-9]+", job !~ "x\\.y", svc="x.y"}`
	if q != want {
		t.Fatalf("got  %s\nwant %s", q, want)
	}
}

func TestRender(t *testing.T) {
	args := map[string]string{
		"namespace": "shop", "canary-revision": "7d9f", "window": "5m", "threshold": "0.01",
		"neg": "-1.5e-3", "label": "destination_service", "bad": "1) or vector(1",
	}
	tests := []struct {
		name, query, want, err string
	}{
		{"label matcher", `up{namespace="{{args.namespace}}",rev="{{ args.canary-revision }}"}`, `up{namespace="shop",rev="7d9f"}`, ""},
		{"duration outside quotes", `rate(x[{{args.window}}])`, `rate(x[5m])`, ""},
		{"number outside quotes", `x > {{args.threshold}} and y < {{args.neg}}`, `x > 0.01 and y < -1.5e-3`, ""},
		{"name outside quotes", `sum by ({{args.label}}) (x)`, `sum by (destination_service) (x)`, ""},
		{"expression outside quotes is refused", `x > {{args.bad}}`, "", `value "1) or vector(1" stands outside a string literal`},
		{"missing argument", `up{a="{{args.nope}}"}`, "", `query placeholder {{args.nope}}: no argument "nope" is given (known: bad, canary-revision`},
		{"malformed placeholder", `up{a="{{arg.namespace}}"}`, "", "malformed placeholder"},
		{"unterminated placeholder", `up{a="{{args.namespace}"}`, "", "malformed placeholder"},
		{"placeholder after a backslash", `up{a="\{{args.namespace}}"}`, "", "follows a backslash"},
		{"escaped quote before a placeholder", `up{a="\"{{args.namespace}}"}`, `up{a="\"shop"}`, ""},
		{"backtick raw string", "up{a=`{{args.namespace}}`}", "up{a=`shop`}", ""},
		{"comment", "up # {{args.bad}}\n", "up # 1) or vector(1\n", ""},
		{"quote inside a comment does not open a string", "up # it's \n{a=\"{{args.namespace}}\"}", "up # it's \n{a=\"shop\"}", ""},
		{"no placeholders", `sum(up)`, `sum(up)`, ""},
		{"single braces are PromQL", `up{job="a"}`, `up{job="a"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.query, args)
			if tt.err != "" {
				var te *TemplateError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want a *TemplateError containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestRenderComment(t *testing.T) {
	q, err := Render("up # {{args.v}}\n+ 1", map[string]string{"v": "x\nor vector(1)"})
	if err != nil {
		t.Fatal(err)
	}
	if q != "up # x\\nor vector(1)\n+ 1" {
		t.Fatalf("a value broke out of the comment: %q", q)
	}
}

func TestRenderBacktickRefused(t *testing.T) {
	_, err := Render("up{a=`{{args.v}}`}", map[string]string{"v": "x` or vector(1) #"})
	if err == nil || !strings.Contains(err.Error(), "backtick") {
		t.Fatalf("got %v", err)
	}
}

func TestArgs(t *testing.T) {
	got := Args(
		map[string]string{ArgNamespace: "shop", ArgBaselineRevision: "", ArgCanaryRevision: "abc"},
		[]v1alpha1.AnalysisArg{{Name: "namespace", Value: "other"}, {Name: "baseline-revision", Value: "x"}, {Name: "quantile", Value: "0.99"}},
	)
	want := map[string]string{"namespace": "shop", "canary-revision": "abc", "quantile": "0.99"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		args := map[string]string{"v": v}
		q, err := Render(`up{a="{{args.v}}"} + up{b='{{args.v}}'} # {{args.v}}`, args)
		if err != nil {
			t.Fatal(err)
		}
		rest := strings.TrimPrefix(q, `up{a="`)
		end := endOfString(rest, '"')
		if got, err := strconv.Unquote(`"` + rest[:end] + `"`); err != nil || got != v {
			t.Fatalf("double-quoted %q reads back as %q (%v)", rest[:end], got, err)
		}
		rest = rest[end:]
		if !strings.HasPrefix(rest, `"} + up{b='`) {
			t.Fatalf("shape changed: %q", q)
		}
		rest = strings.TrimPrefix(rest, `"} + up{b='`)
		end = endOfString(rest, '\'')
		if !strings.HasPrefix(rest[end:], `'} # `) {
			t.Fatalf("shape changed: %q", q)
		}
		if strings.Contains(rest[end:], "\n") {
			t.Fatalf("the comment was broken: %q", q)
		}
		// Outside quotes a value is accepted only as one safe token.
		if q, err := Render(`x > {{args.v}}`, args); err == nil && strings.ContainsAny(q[4:], " (){}[]\"'`#,*/^%=!<>|\n") {
			t.Fatalf("unsafe bare value accepted: %q", q)
		}
	})
}
