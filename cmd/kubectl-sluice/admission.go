package main

// Offline admission: what the apiserver does to a sluice object on create,
// run from the CRDs embedded in the binary (package config/crd).
//
// The steps follow the apiserver's custom resource handler in order:
// status is dropped (status subresource), unknown fields are pruned and
// reported (the strict field validation kubectl asks for), non-nullable
// nulls are dropped, defaults are applied, then ObjectMeta, the OpenAPI v3
// schema, the scale subresource's replicas, list-type sets and maps, and,
// unless one of those failed in a way that blocks them, the
// x-kubernetes-validations CEL rules (cel.go).
//
// The structural schema, pruning and list-type checks are
// k8s.io/apiextensions-apiserver's own packages, the schema validator is
// kube-openapi's (the one apiextensions-apiserver wraps), and the error
// conversion mirrors the apiserver's so messages read the same. Defaulting
// and CEL evaluation are done here because apiextensions-apiserver's
// packages for them need k8s.io/apiserver and k8s.io/component-base, which
// are not in go.mod. TestLintAgreesWithAPIServer compares the result with a
// real kube-apiserver.

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"
	"sync"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/config/crd"
)

// crdVersion is one served version of one CRD, ready to admit objects.
type crdVersion struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	// status: the status subresource is enabled, so a create ignores
	// .status.
	status bool
	// scaleSpecPath is the scale subresource's specReplicasPath, if any.
	scaleSpecPath string
	structural    *structuralschema.Structural
	openapi       *validate.SchemaValidator
	cel           *celNode
}

// admission knows every served version of every embedded CRD.
type admission struct {
	versions map[schema.GroupKind]map[string]*crdVersion
}

// loadAdmission reads the embedded CRDs once per process.
var loadAdmission = sync.OnceValues(func() (*admission, error) { return newAdmission(crd.Bases) })

func newAdmission(fsys fs.FS) (*admission, error) {
	files, err := fs.Glob(fsys, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs embedded")
	}
	env, err := newCELEnv()
	if err != nil {
		return nil, err
	}
	a := &admission{versions: map[schema.GroupKind]map[string]*crdVersion{}}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &def); err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", f, err)
		}
		gk := schema.GroupKind{Group: def.Spec.Group, Kind: def.Spec.Names.Kind}
		for _, v := range def.Spec.Versions {
			if !v.Served || v.Schema == nil {
				continue
			}
			cv, err := newCRDVersion(env, &def, &v)
			if err != nil {
				return nil, fmt.Errorf("embedded CRD %s, version %s: %w", f, v.Name, err)
			}
			if a.versions[gk] == nil {
				a.versions[gk] = map[string]*crdVersion{}
			}
			a.versions[gk][v.Name] = cv
		}
	}
	return a, nil
}

func newCRDVersion(env *celEnv, def *apiextensionsv1.CustomResourceDefinition, v *apiextensionsv1.CustomResourceDefinitionVersion) (*crdVersion, error) {
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	openapi := s.ToKubeOpenAPI()
	intOrString(openapi)
	cv := &crdVersion{
		gvk:        schema.GroupVersionKind{Group: def.Spec.Group, Version: v.Name, Kind: def.Spec.Names.Kind},
		namespaced: def.Spec.Scope == apiextensionsv1.NamespaceScoped,
		structural: s,
		openapi:    validate.NewSchemaValidator(openapi, nil, "", strfmt.Default),
		cel:        env.node(s),
	}
	if sr := v.Subresources; sr != nil {
		cv.status = sr.Status != nil
		if sr.Scale != nil {
			cv.scaleSpecPath = sr.Scale.SpecReplicasPath
		}
	}
	return cv, nil
}

// intOrString gives x-kubernetes-int-or-string schemas the type the
// apiserver's schema conversion gives them, so a wrong type reads the same.
func intOrString(s *spec.Schema) {
	if s == nil {
		return
	}
	if v, ok := s.Extensions["x-kubernetes-int-or-string"].(bool); ok && v {
		s.Type = spec.StringOrArray{"integer", "string"}
	}
	for k, p := range s.Properties {
		intOrString(&p)
		s.Properties[k] = p
	}
	if s.AdditionalProperties != nil {
		intOrString(s.AdditionalProperties.Schema)
	}
	if s.Items != nil {
		intOrString(s.Items.Schema)
	}
}

// lookup finds the CRD version for an object's apiVersion and kind. ok is
// false when the group is not one of the embedded CRDs' groups; err says
// what is wrong when the group is known but the kind or version is not.
func (a *admission) lookup(gvk schema.GroupVersionKind) (cv *crdVersion, ok bool, err error) {
	known := false
	var kinds []string
	for gk := range a.versions {
		if gk.Group == gvk.Group {
			known = true
			kinds = append(kinds, gk.Kind)
		}
	}
	if !known {
		return nil, false, nil
	}
	versions, found := a.versions[gvk.GroupKind()]
	if !found {
		sort.Strings(kinds)
		return nil, true, fmt.Errorf("no kind %q in %s; the kinds are %s", gvk.Kind, gvk.Group, strings.Join(kinds, ", "))
	}
	cv = versions[gvk.Version]
	if cv == nil {
		var served []string
		for v := range versions {
			served = append(served, gvk.Group+"/"+v)
		}
		sort.Strings(served)
		return nil, true, fmt.Errorf("%s is not served for kind %s; use apiVersion %s", gvk.GroupVersion(), gvk.Kind, strings.Join(served, " or "))
	}
	return cv, true, nil
}

// verdict is what admission makes of one object.
type verdict struct {
	// unknown are the paths of fields the schema does not have; the
	// apiserver drops them (a warning) or, under kubectl's default strict
	// field validation, refuses the object.
	unknown []string
	// errs are the reasons the apiserver would refuse the object.
	errs field.ErrorList
	// unchecked are rules this offline check could not evaluate.
	unchecked field.ErrorList
}

// blockingNote is the apiserver's error when schema errors keep it from
// running the CEL rules.
const blockingNote = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"

// admit runs the create-time checks on obj, which it changes the way the
// apiserver would before storing it: status dropped, unknown fields pruned,
// defaults set.
func (cv *crdVersion) admit(ctx context.Context, obj map[string]any) verdict {
	var v verdict
	if cv.status {
		delete(obj, "status")
	}
	meta, metaUnknown, metaErrs := objectMeta(obj)
	v.unknown = append(v.unknown, metaUnknown...)
	v.errs = append(v.errs, metaErrs...)

	v.unknown = append(v.unknown, structuralpruning.PruneWithOptions(obj, cv.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	dropNulls(obj, cv.structural)
	applyDefaults(obj, cv.structural)

	if meta != nil {
		v.errs = append(v.errs, cv.validateObjectMeta(meta)...)
	}
	v.errs = append(v.errs, openAPIErrors(cv.openapi.Validate(obj))...)
	v.errs = append(v.errs, cv.validateScale(obj)...)
	v.errs = append(v.errs, structurallisttype.ValidateListSetsAndMaps(nil, cv.structural, obj)...)
	if blocking(v.errs) {
		v.errs = append(v.errs, field.Invalid(nil, nil, blockingNote))
	} else {
		errs, unchecked := cv.cel.validate(ctx, nil, obj, true)
		v.errs = append(v.errs, errs...)
		v.unchecked = unchecked
	}
	return v
}

// objectMeta decodes metadata the way the apiserver does, reporting fields
// ObjectMeta does not have.
func objectMeta(obj map[string]any) (*metav1.ObjectMeta, []string, field.ErrorList) {
	raw, found := obj["metadata"]
	if !found || raw == nil {
		return &metav1.ObjectMeta{}, nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), raw, fmt.Sprintf("expected map[string]interface{}, got %T", raw))}
	}
	meta := &metav1.ObjectMeta{}
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(m, meta, true)
	if err == nil {
		return meta, nil, nil
	}
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		var unknown []string
		for _, e := range strict.Errors() {
			name, found := strings.CutPrefix(e.Error(), `unknown field "`)
			if !found {
				continue
			}
			unknown = append(unknown, "metadata."+strings.TrimSuffix(name, `"`))
		}
		// meta is filled in before the unknown fields are reported
		return meta, unknown, nil
	}
	return nil, nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), "", err.Error())}
}

// validateObjectMeta checks metadata as a create does. A namespaced object
// without a namespace gets the one kubectl would send (the context's), and
// a name is generated from generateName first, as the apiserver does.
func (cv *crdVersion) validateObjectMeta(meta *metav1.ObjectMeta) field.ErrorList {
	m := meta.DeepCopy()
	if cv.namespaced && m.Namespace == "" {
		m.Namespace = "default"
	}
	if !cv.namespaced {
		m.Namespace = "" // kubectl does not send it for a cluster-scoped kind
	}
	if m.Name == "" && m.GenerateName != "" {
		prefix := m.GenerateName
		if len(prefix) > 58 {
			prefix = prefix[:58]
		}
		m.Name = prefix + "abcde"
	}
	return apivalidation.ValidateObjectMeta(m, cv.namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// validateScale is the apiserver's check of the scale subresource's
// replicas on create.
func (cv *crdVersion) validateScale(obj map[string]any) field.ErrorList {
	if cv.scaleSpecPath == "" {
		return nil
	}
	p := field.NewPath(cv.scaleSpecPath)
	n, _, err := unstructured.NestedInt64(obj, strings.Split(strings.TrimPrefix(cv.scaleSpecPath, "."), ".")...)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, n, err.Error())}
	case n < 0:
		return field.ErrorList{field.Invalid(p, n, "should be a non-negative integer")}
	case n > math.MaxInt32:
		return field.ErrorList{field.Invalid(p, n, fmt.Sprintf("should be less than or equal to %v", math.MaxInt32))}
	}
	return nil
}

// blocking: the apiserver skips the CEL rules after these schema errors.
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}

// openAPIErrors turns kube-openapi's result into field errors the way the
// apiserver does, so that the messages are the ones kubectl apply prints.
func openAPIErrors(res *validate.Result) field.ErrorList {
	if res == nil || res.IsValid() {
		return nil
	}
	var errs field.ErrorList
	for _, err := range res.Errors {
		e, ok := err.(*openapierrors.Validation)
		if !ok {
			errs = append(errs, field.Invalid(nil, "", err.Error()))
			continue
		}
		var p *field.Path
		if e.Name != "" && e.Name != "." {
			p = p.Child(strings.TrimPrefix(e.Name, "."))
		}
		value := e.Value
		if value == nil {
			value = ""
		}
		switch e.Code() {
		case openapierrors.RequiredFailCode:
			errs = append(errs, field.Required(p, ""))
		case openapierrors.EnumFailCode:
			var allowed []string
			for _, a := range e.Values {
				if s, ok := a.(string); ok {
					allowed = append(allowed, s)
				} else {
					b, _ := json.Marshal(a)
					allowed = append(allowed, string(b))
				}
			}
			errs = append(errs, field.NotSupported(p, e.Value, allowed))
		case openapierrors.TooLongFailCode:
			errs = append(errs, field.TooLong(p, "", int(asInt64(e.Valid))))
		case openapierrors.MaxItemsFailCode, openapierrors.TooManyPropertiesCode:
			errs = append(errs, field.TooMany(p, int(asInt64(e.Value)), int(asInt64(e.Valid))))
		case openapierrors.InvalidTypeCode:
			errs = append(errs, field.TypeInvalid(p, value, e.Error()))
		default:
			errs = append(errs, field.Invalid(p, value, e.Error()))
		}
	}
	return errs
}

func asInt64(v any) int64 {
	if i, ok := v.(int64); ok {
		return i
	}
	return -1
}

// dropNulls removes null values the schema neither allows nor defaults, as
// the apiserver does while decoding (a YAML "key:" with nothing after it).
func dropNulls(x any, s *structuralschema.Structural) {
	if s == nil {
		return
	}
	switch x := x.(type) {
	case map[string]any:
		for k, v := range x {
			sub := propertySchema(s, k)
			if v == nil {
				if sub != nil && !sub.Nullable && sub.Default.Object == nil {
					delete(x, k)
				}
				continue
			}
			dropNulls(v, sub)
		}
	case []any:
		for _, v := range x {
			dropNulls(v, s.Items)
		}
	}
}

// applyDefaults sets the schema's defaults where a field is missing (or
// null and not nullable), from the outside in, so that a defaulted object
// gets its own fields' defaults too. This is what the apiserver does before
// validating, which is why a rule may read a defaulted field with no has().
func applyDefaults(x any, s *structuralschema.Structural) {
	if s == nil {
		return
	}
	switch x := x.(type) {
	case map[string]any:
		for k, p := range s.Properties {
			if p.Default.Object == nil {
				continue
			}
			if v, found := x[k]; !found || (v == nil && !p.Nullable) {
				x[k] = runtime.DeepCopyJSONValue(p.Default.Object)
			}
		}
		for k, v := range x {
			sub := propertySchema(s, k)
			if v == nil && sub != nil && !sub.Nullable && sub.Default.Object != nil {
				x[k] = runtime.DeepCopyJSONValue(sub.Default.Object)
			}
			applyDefaults(x[k], sub)
		}
	case []any:
		for i, v := range x {
			if v == nil && s.Items != nil && !s.Items.Nullable && s.Items.Default.Object != nil {
				x[i] = runtime.DeepCopyJSONValue(s.Items.Default.Object)
			}
			applyDefaults(x[i], s.Items)
		}
	}
}

// propertySchema is the schema of key k of an object with schema s.
func propertySchema(s *structuralschema.Structural, k string) *structuralschema.Structural {
	if p, ok := s.Properties[k]; ok {
		return &p
	}
	if s.AdditionalProperties != nil {
		return s.AdditionalProperties.Structural
	}
	return nil
}
