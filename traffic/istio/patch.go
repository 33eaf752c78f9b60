package istio

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Operation is one RFC 6902 JSON Patch operation. Value is left out of the
// JSON for "remove".
//
// Values of test operations are the values read from the object, so they
// share memory with it: do not modify a Patch or the object it was rendered
// from while the other is in use.
type Operation struct {
	Op    string
	Path  string
	Value any
}

// JSON Patch operation names sluice uses.
const (
	OpTest    = "test"
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// MarshalJSON writes {"op","path","value"}, without value for remove.
func (o Operation) MarshalJSON() ([]byte, error) {
	if o.Op == OpRemove {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	return json.Marshal(struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}{o.Op, o.Path, o.Value})
}

// Patch is a JSON Patch: the test operations guarding each change come
// before it. An empty Patch means the object is already at the desired state.
type Patch []Operation

// Mutations counts the operations that change the object (all but test).
func (p Patch) Mutations() int {
	n := 0
	for _, o := range p {
		if o.Op != OpTest {
			n++
		}
	}
	return n
}

// JSON is the patch as sent to the apiserver.
func (p Patch) JSON() ([]byte, error) {
	if p == nil {
		p = Patch{}
	}
	return json.Marshal([]Operation(p))
}

// String is the patch's JSON, for logs and events.
func (p Patch) String() string {
	b, err := p.JSON()
	if err != nil {
		return "<unprintable patch: " + err.Error() + ">"
	}
	return string(b)
}

func testOp(path string, v any) Operation    { return Operation{Op: OpTest, Path: path, Value: v} }
func addOp(path string, v any) Operation     { return Operation{Op: OpAdd, Path: path, Value: v} }
func replaceOp(path string, v any) Operation { return Operation{Op: OpReplace, Path: path, Value: v} }
func removeOp(path string) Operation         { return Operation{Op: OpRemove, Path: path} }
func setOp(path string, v any, had bool) Operation {
	if had {
		return replaceOp(path, v)
	}
	return addOp(path, v)
}

// pointer builds a JSON pointer (RFC 6901) from path segments, escaping "~"
// and "/" in string segments ("sluice.dev/revision" becomes
// "sluice.dev~1revision").
func pointer(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		switch v := p.(type) {
		case int:
			b.WriteString(strconv.Itoa(v))
		case string:
			b.WriteString(escapePointer(v))
		default:
			panic("istio: pointer segment must be int or string")
		}
	}
	return b.String()
}

func escapePointer(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	return strings.ReplaceAll(s, "/", "~1")
}

// jsonEqual reports whether a and b encode to the same JSON. Numbers compare
// by their encoding, so int64(90) equals float64(90), as they do for the
// apiserver's test operation.
func jsonEqual(a, b any) bool {
	ab, errA := json.Marshal(a)
	bb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ab, bb)
}

// Accessors for raw JSON values as decoded by apimachinery's unstructured
// codec (map[string]any, []any, string, bool, int64, float64) or by
// encoding/json (float64 numbers). They never panic on unexpected shapes.

func asMap(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	return m, ok
}

func asSlice(v any) ([]any, bool) {
	s, ok := v.([]any)
	return s, ok
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func lookup(v any, path ...string) (any, bool) {
	for _, p := range path {
		m, ok := asMap(v)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func lookupMap(v any, path ...string) (map[string]any, bool) {
	x, ok := lookup(v, path...)
	if !ok {
		return nil, false
	}
	return asMap(x)
}

func lookupString(v any, path ...string) string {
	x, _ := lookup(v, path...)
	return asString(x)
}

// number converts a JSON number of any decoded Go type to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// copyMap is a shallow copy; nested values stay shared and are never
// modified.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
