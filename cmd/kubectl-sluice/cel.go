package main

// The CRDs' x-kubernetes-validations rules, evaluated offline with cel-go.
//
// The environment has the options and the cel-go libraries of the
// apiserver's CEL environment; self (and oldSelf) are dynamic values built
// from the object along its structural schema, with property names escaped
// the way Kubernetes exposes them to CEL. Failures become the field errors
// the apiserver returns: same path, same value, same message. A rule that
// needs one of Kubernetes' own CEL libraries (quantity, url, ip, ...) does
// not compile here; it is reported as unchecked instead of guessed at.
// Transition rules (oldSelf) do not apply to a create and are skipped, as
// the apiserver skips them.

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

type celEnv struct{ env *cel.Env }

func newCELEnv() (*celEnv, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
		),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		ext.Lists(ext.ListsVersion(3)),
		cel.Variable("self", cel.DynType),
		cel.Variable("oldSelf", cel.DynType),
	)
	if err != nil {
		return nil, err
	}
	return &celEnv{env: env}, nil
}

// celNode holds the compiled rules of one schema node and the nodes below
// it that have rules; a nil *celNode has none.
type celNode struct {
	schema     *structuralschema.Structural
	rules      []celRule
	props      map[string]*celNode
	additional *celNode
	items      *celNode
}

type celRule struct {
	src        apiextensionsv1.ValidationRule
	prog       cel.Program
	msg        cel.Program // messageExpression
	usesOld    bool
	compileErr error
}

// node compiles the rules of s and of everything below it.
func (e *celEnv) node(s *structuralschema.Structural) *celNode {
	if s == nil {
		return nil
	}
	n := &celNode{schema: s}
	for _, r := range s.XValidations {
		n.rules = append(n.rules, e.compile(r))
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if c := e.node(&p); c != nil {
			if n.props == nil {
				n.props = map[string]*celNode{}
			}
			n.props[k] = c
		}
	}
	if s.AdditionalProperties != nil {
		n.additional = e.node(s.AdditionalProperties.Structural)
	}
	n.items = e.node(s.Items)
	if len(n.rules) == 0 && n.props == nil && n.additional == nil && n.items == nil {
		return nil
	}
	return n
}

func (e *celEnv) compile(r apiextensionsv1.ValidationRule) celRule {
	out := celRule{src: r}
	ast, iss := e.env.Compile(r.Rule)
	if iss.Err() != nil {
		out.compileErr = iss.Err()
		return out
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		out.compileErr = fmt.Errorf("rule evaluates to %s, not bool", t)
		return out
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "oldSelf" {
			out.usesOld = true
		}
	}
	if out.prog, out.compileErr = e.env.Program(ast); out.compileErr != nil {
		return out
	}
	if r.MessageExpression != "" {
		if m, iss := e.env.Compile(r.MessageExpression); iss.Err() == nil {
			out.msg, _ = e.env.Program(m)
		}
	}
	return out
}

// validate evaluates the rules of n on obj and below, walking it as the
// apiserver does. unchecked lists the rules that could not be evaluated
// here.
func (n *celNode) validate(ctx context.Context, p *field.Path, obj any, root bool) (errs, unchecked field.ErrorList) {
	if n == nil || obj == nil {
		return nil, nil
	}
	errs, unchecked = n.evaluate(ctx, p, obj, root || n.schema.XEmbeddedResource)
	add := func(e, u field.ErrorList) {
		errs, unchecked = append(errs, e...), append(unchecked, u...)
	}
	switch x := obj.(type) {
	case map[string]any:
		keys := sortedKeys(x)
		if n.additional != nil {
			for _, k := range keys {
				add(n.additional.validate(ctx, p.Key(k), x[k], false))
			}
		}
		for _, k := range keys {
			if c := n.props[k]; c != nil {
				add(c.validate(ctx, p.Child(k), x[k], false))
			}
		}
	case []any:
		if n.items != nil {
			for i, v := range x {
				add(n.items.validate(ctx, p.Index(i), v, false))
			}
		}
	}
	return errs, unchecked
}

func (n *celNode) evaluate(ctx context.Context, p *field.Path, obj any, root bool) (errs, unchecked field.ErrorList) {
	if len(n.rules) == 0 {
		return nil, nil
	}
	typ := n.schema.Type
	self := celValue(obj, n.schema, root)
	vars := map[string]any{"self": self}
	for _, r := range n.rules {
		if r.compileErr != nil {
			unchecked = append(unchecked, field.Invalid(p, field.OmitValueType{}, fmt.Sprintf("rule %q not checked offline: %v", r.src.Rule, r.compileErr)))
			continue
		}
		act := vars
		if r.usesOld {
			if r.src.OptionalOldSelf == nil || !*r.src.OptionalOldSelf {
				continue // transition rules need an old object
			}
			act = map[string]any{"self": self, "oldSelf": types.OptionalNone}
		}
		out, _, err := r.prog.ContextEval(ctx, act)
		if err != nil {
			if strings.HasPrefix(err.Error(), "no such overload") {
				errs = append(errs, field.Invalid(p, typ, fmt.Sprintf("'%v': call arguments did not match a supported operator, function or macro signature for rule: %v", err, ruleString(r.src))))
			} else {
				errs = append(errs, field.Invalid(p, typ, fmt.Sprintf("%v evaluating rule: %v", err, ruleString(r.src))))
			}
			continue
		}
		if out == types.True {
			continue
		}
		at := p
		if fp := strings.TrimPrefix(r.src.FieldPath, "."); fp != "" {
			at = at.Child(fp)
		}
		detail := ""
		if r.msg != nil {
			if m, _, err := r.msg.ContextEval(ctx, act); err == nil {
				if s, ok := m.Value().(string); ok && strings.TrimSpace(s) != "" && !strings.Contains(s, "\n") {
					detail = s
				}
			}
		}
		if detail == "" {
			detail = ruleMessage(r.src)
		}
		var value any = obj
		if typ == "object" || typ == "array" {
			value = field.OmitValueType{}
		}
		errs = append(errs, reasonError(at, value, detail, r.src.Reason))
	}
	return errs, unchecked
}

func ruleMessage(r apiextensionsv1.ValidationRule) string {
	if r.Message == "" {
		return "failed rule: " + ruleString(r)
	}
	return strings.TrimSpace(r.Message)
}

func ruleString(r apiextensionsv1.ValidationRule) string {
	if r.Message != "" {
		return strings.TrimSpace(r.Message)
	}
	return strings.TrimSpace(r.Rule)
}

func reasonError(p *field.Path, value any, detail string, reason *apiextensionsv1.FieldValueErrorReason) *field.Error {
	if reason != nil {
		switch *reason {
		case apiextensionsv1.FieldValueForbidden:
			return field.Forbidden(p, detail)
		case apiextensionsv1.FieldValueRequired:
			return field.Required(p, detail)
		case apiextensionsv1.FieldValueDuplicate:
			return field.Duplicate(p, value)
		}
	}
	return field.Invalid(p, value, detail)
}

// celValue is obj as CEL sees it under schema s: an object's properties
// under their escaped names, a map's keys as they are, numbers of type
// number as doubles, and the string formats Kubernetes gives CEL types. At
// a resource's root, metadata shows only name and generateName.
func celValue(obj any, s *structuralschema.Structural, root bool) any {
	if s == nil {
		return obj
	}
	switch x := obj.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		switch {
		case len(s.Properties) > 0 || root:
			for k, v := range x {
				name, ok := celEscape(k)
				if !ok {
					continue
				}
				if root && k == "metadata" {
					out[name] = rootMetadata(v)
					continue
				}
				if p, found := s.Properties[k]; found {
					out[name] = celValue(v, &p, p.XEmbeddedResource)
				} else if s.XPreserveUnknownFields {
					out[name] = v
				}
			}
		case s.AdditionalProperties != nil:
			for k, v := range x {
				out[k] = celValue(v, s.AdditionalProperties.Structural, false)
			}
		default:
			return x
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = celValue(v, s.Items, false)
		}
		return out
	case int64:
		if s.Type == "number" {
			return float64(x)
		}
	case string:
		if s.ValueValidation == nil {
			return x
		}
		switch s.ValueValidation.Format {
		case "date", "date-time":
			layout := time.RFC3339
			if s.ValueValidation.Format == "date" {
				layout = time.DateOnly
			}
			if t, err := time.Parse(layout, x); err == nil {
				return types.Timestamp{Time: t}
			}
		case "duration":
			if d, err := time.ParseDuration(x); err == nil {
				return types.Duration{Duration: d}
			}
		case "byte":
			if b, err := base64.StdEncoding.DecodeString(x); err == nil {
				return types.Bytes(b)
			}
		}
	}
	return obj
}

func rootMetadata(v any) any {
	m, _ := v.(map[string]any)
	out := map[string]any{}
	for _, k := range []string{"name", "generateName"} {
		if s, ok := m[k].(string); ok {
			out[k] = s
		}
	}
	return out
}

// celReserved are the words Kubernetes escapes as __word__ when they name a
// property.
var celReserved = []string{
	"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
	"if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
}

var celEscapable = regexp.MustCompile(`^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$`)

// celEscape is the name a property has in CEL; ok is false when Kubernetes
// does not expose it.
func celEscape(name string) (string, bool) {
	if slices.Contains(celReserved, name) {
		return "__" + name + "__", true
	}
	if !celEscapable.MatchString(name) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '_' && i+1 < len(name) && name[i+1] == '_':
			b.WriteString("__underscores__")
			i++
		case c == '.':
			b.WriteString("__dot__")
		case c == '-':
			b.WriteString("__dash__")
		case c == '/':
			b.WriteString("__slash__")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
