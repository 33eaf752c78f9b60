package v1alpha1

import (
	"reflect"
	"testing"
)

func TestReleaseValueRoundTrip(t *testing.T) {
	images := map[string]string{"web": "web:2", "migrate": "migrate:7"}
	v := ReleaseValue("2026-12-02T00:00:00Z", images)
	if v != "2026-12-02T00:00:00Z;migrate=migrate:7,web=web:2" {
		t.Fatalf("value %q", v)
	}
	got, err := ParseRelease(v)
	if err != nil || !reflect.DeepEqual(got, images) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"no-images", "tok;", "tok;web", "tok;web=", "tok;=img", "tok;web=web:2,oops"} {
		if _, err := ParseRelease(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	if got := ParseImageList([]string{"web=web:1", "junk", " side = "}); !reflect.DeepEqual(got, map[string]string{"web": "web:1"}) {
		t.Fatalf("ParseImageList skipped wrongly: %v", got)
	}
}
