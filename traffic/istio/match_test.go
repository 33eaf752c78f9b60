package istio

import (
	"regexp"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func matchList(t *testing.T, s string) []map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var out []map[string]any
	for _, m := range decode(t, []byte(`{"l":`+s+`}`))["l"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

func TestCrossMatches(t *testing.T) {
	cases := []struct {
		name            string
		base, requested string
		want            string // "" = unsatisfiable
	}{
		{"no base match: requested as is",
			``, `[{"headers":{"x-beta":{"exact":"1"}}}]`,
			`[{"headers":{"x-beta":{"exact":"1"}}}]`},
		{"empty base list: requested as is",
			`[]`, `[{"uri":{"prefix":"/a"}},{"method":{"exact":"GET"}}]`,
			`[{"uri":{"prefix":"/a"}},{"method":{"exact":"GET"}}]`},
		{"different fields: union",
			`[{"uri":{"prefix":"/api"}}]`, `[{"headers":{"x-beta":{"exact":"1"}}}]`,
			`[{"uri":{"prefix":"/api"},"headers":{"x-beta":{"exact":"1"}}}]`},
		{"headers merge by name",
			`[{"headers":{"x-a":{"exact":"1"}}}]`, `[{"headers":{"x-b":{"prefix":"2"}}}]`,
			`[{"headers":{"x-a":{"exact":"1"},"x-b":{"prefix":"2"}}}]`},
		{"same header, same value: kept once",
			`[{"headers":{"x-a":{"exact":"1"}}}]`, `[{"headers":{"x-a":{"exact":"1"}}}]`,
			`[{"headers":{"x-a":{"exact":"1"}}}]`},
		{"cross product, base-major",
			`[{"uri":{"prefix":"/a"}},{"uri":{"prefix":"/b"}}]`, `[{"headers":{"x":{"exact":"1"}}},{"queryParams":{"q":{"exact":"2"}}}]`,
			`[{"uri":{"prefix":"/a"},"headers":{"x":{"exact":"1"}}},{"uri":{"prefix":"/a"},"queryParams":{"q":{"exact":"2"}}},
			  {"uri":{"prefix":"/b"},"headers":{"x":{"exact":"1"}}},{"uri":{"prefix":"/b"},"queryParams":{"q":{"exact":"2"}}}]`},
		{"contradicting pair dropped, others kept",
			`[{"uri":{"prefix":"/a"}},{"method":{"exact":"GET"}}]`, `[{"uri":{"prefix":"/b"}}]`,
			`[{"method":{"exact":"GET"},"uri":{"prefix":"/b"}}]`},
		{"same header different value: dropped",
			`[{"headers":{"x-a":{"exact":"1"}}},{"headers":{"x-c":{"exact":"3"}}}]`, `[{"headers":{"x-a":{"exact":"2"}}}]`,
			`[{"headers":{"x-c":{"exact":"3"},"x-a":{"exact":"2"}}}]`},
		{"same header exact vs prefix: not expressible, dropped",
			`[{"headers":{"x-a":{"exact":"1"}}}]`, `[{"headers":{"x-a":{"prefix":"1"}}}]`,
			``},
		{"every pair contradicts",
			`[{"method":{"exact":"GET"}}]`, `[{"method":{"exact":"POST"}},{"method":{"exact":"PUT"}}]`,
			``},
		{"sourceLabels merge by key; base's other fields kept",
			`[{"name":"m","sourceLabels":{"app":"a"},"gateways":["mesh"],"ignoreUriCase":true}]`, `[{"sourceLabels":{"team":"t"}}]`,
			`[{"name":"m","sourceLabels":{"app":"a","team":"t"},"gateways":["mesh"],"ignoreUriCase":true}]`},
		{"sourceLabels conflict",
			`[{"sourceLabels":{"app":"a"}}]`, `[{"sourceLabels":{"app":"b"}}]`,
			``},
		{"authority vs authority",
			`[{"authority":{"exact":"a.example.com"}}]`, `[{"authority":{"exact":"preview.example.com"}}]`,
			``},
		{"duplicates removed",
			`[{"uri":{"prefix":"/a"}},{"uri":{"prefix":"/a"},"headers":{"x":{"exact":"1"}}}]`, `[{"headers":{"x":{"exact":"1"}}}]`,
			`[{"uri":{"prefix":"/a"},"headers":{"x":{"exact":"1"}}}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := matchList(t, c.base)
			baseBefore := jsonOf(t, base)
			got, ok := CrossMatches(base, matchList(t, c.requested))
			if jsonOf(t, base) != baseBefore {
				t.Error("the base matches were modified")
			}
			if c.want == "" {
				if ok {
					t.Fatalf("want unsatisfiable, got %s", jsonOf(t, got))
				}
				return
			}
			if !ok {
				t.Fatal("unexpectedly unsatisfiable")
			}
			if g, w := jsonOf(t, got), canon(t, c.want); g != w {
				t.Errorf("\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestRenderHTTPMatch(t *testing.T) {
	m, err := RenderHTTPMatch(v1alpha1.HTTPMatch{
		Headers:      map[string]v1alpha1.StringMatch{"X-User-Group": {Regex: ptrTo("beta|qa")}},
		QueryParams:  map[string]v1alpha1.StringMatch{"Variant": {Exact: ptrTo("b")}},
		URI:          &v1alpha1.StringMatch{Prefix: ptrTo("/shop")},
		Method:       &v1alpha1.StringMatch{Exact: ptrTo("GET")},
		SourceLabels: map[string]string{"app": "tester"},
		Cookie:       &v1alpha1.CookieMatch{Name: "session.v$", Value: "x.y*z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := canon(t, `{"headers":{"x-user-group":{"regex":"beta|qa"},"cookie":{"regex":"^(.*?;\\s*)?session\\.v\\$=x\\.y\\*z(;.*)?$"}},
	  "queryParams":{"Variant":{"exact":"b"}},"uri":{"prefix":"/shop"},"method":{"exact":"GET"},"sourceLabels":{"app":"tester"}}`)
	if got := jsonOf(t, m); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if _, err := RenderHTTPMatch(v1alpha1.HTTPMatch{}); err == nil {
		t.Error("an empty match must be refused")
	}
	if _, err := RenderHTTPMatch(v1alpha1.HTTPMatch{URI: &v1alpha1.StringMatch{Exact: ptrTo("/"), Prefix: ptrTo("/")}}); err == nil {
		t.Error("a string match with two kinds must be refused")
	}
	_, err = RenderHTTPMatch(v1alpha1.HTTPMatch{Cookie: &v1alpha1.CookieMatch{Name: "a", Value: "1"},
		Headers: map[string]v1alpha1.StringMatch{"Cookie": {Exact: ptrTo("a=1")}}})
	if r, _ := StalledReason(err); r != ReasonUnsatisfiableMatch {
		t.Errorf("cookie and headers.cookie: %v", err)
	}
}

func TestCookieRegex(t *testing.T) {
	re := regexp.MustCompile(CookieRegex("beta", "a+b"))
	for header, want := range map[string]bool{
		"beta=a+b":                true,
		"x=1; beta=a+b":           true,
		"x=1;beta=a+b; y=2":       true,
		"beta=a+b;y=2":            true,
		"beta=aab":                false, // + is literal
		"xbeta=a+b":               false,
		"beta=a+bc":               false,
		"x=beta=a+b":              false,
		"other=1; beta=a+b; z=3;": true,
	} {
		if got := re.MatchString(header); got != want {
			t.Errorf("%q: %v, want %v", header, got, want)
		}
	}
}

func TestProtoDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:                            "5s",
		1500 * time.Millisecond:                    "1.5s",
		90 * time.Second:                           "90s",
		time.Millisecond:                           "0.001s",
		time.Hour + 30*time.Minute:                 "5400s",
		time.Second + time.Nanosecond:              "1.000000001s",
		250*time.Millisecond + 10*time.Microsecond: "0.25001s",
	} {
		if got := protoDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

func TestHostServed(t *testing.T) {
	hosts := []any{"shop.example.com", "*.preview.example.com"}
	for h, want := range map[string]bool{
		"shop.example.com":        true,
		"a.preview.example.com":   true,
		"preview.example.com":     false,
		"x.shop.example.com":      false,
		"a.b.preview.example.com": true,
	} {
		if got := hostServed(hosts, h); got != want {
			t.Errorf("%s: %v, want %v", h, got, want)
		}
	}
	if !hostServed([]any{"*"}, "anything") {
		t.Error("* serves every host")
	}
}

func TestPreviewHostRoute(t *testing.T) {
	in := canonical(t, fixtureVS)
	d := subsets(0)
	d.MatchRoute = &MatchRoute{Kind: MatchKindPreview, Host: "shop.example.com"}
	_, out := render(t, in, vsTarget("api"), d)
	want := canon(t, `[{"uri":{"prefix":"/api"},"authority":{"exact":"shop.example.com"}},{"headers":{"x-api":{"exact":"1"}},"authority":{"exact":"shop.example.com"}}]`)
	if got := canon(t, rawAt(t, []byte(routeByName(t, out, "sluice-preview-api")), "match")); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}
