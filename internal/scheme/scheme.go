// Package scheme builds the runtime.Scheme of every type sluice talks to.
package scheme

import (
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// New returns a scheme with core Kubernetes, sluice and Istio networking
// types.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(sluicev1.AddToScheme(s))
	utilruntime.Must(istionetworking.AddToScheme(s))
	return s
}
