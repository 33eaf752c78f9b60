package argostandin

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	argocdconfig "github.com/sluice-dev/sluice/config/argocd"
)

// Health of one resource, in Argo CD's words.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// healthOrder ranks statuses the way Argo CD aggregates them: the worst
// resource decides the Application's health.
var healthOrder = map[string]int{"Healthy": 0, "Suspended": 1, "Progressing": 2, "Missing": 3, "Degraded": 4, "Unknown": 5}

func worse(a, b Health) Health {
	if healthOrder[b.Status] > healthOrder[a.Status] {
		return b
	}
	return a
}

// resourceHealth assesses one live object: sluice Rollouts through the
// shipped Lua health check (run with gopher-lua, the interpreter Argo CD
// embeds), anything else as Healthy once it exists.
func resourceHealth(obj *unstructured.Unstructured) (Health, error) {
	if obj == nil {
		return Health{Status: "Missing"}, nil
	}
	if obj.GroupVersionKind().Group != "sluice.dev" || obj.GetKind() != "Rollout" {
		return Health{Status: "Healthy"}, nil
	}
	return runHealthLua(argocdconfig.HealthLua, obj.Object)
}

func runHealthLua(script string, obj map[string]any) (Health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return Health{}, fmt.Errorf("health.lua: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("health.lua returned %s, not a table", L.Get(-1).Type())
	}
	return Health{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}, nil
}

// toLua converts decoded JSON into Lua values the way Argo CD does: objects
// become tables, arrays become 1-based tables.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}
