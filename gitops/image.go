package gitops

import "strings"

// imageRef is a container image split the way kustomize's images: field
// and Helm charts split it.
type imageRef struct {
	Name   string // registry/repository, without tag or digest
	Tag    string
	Digest string // sha256:…
}

func parseImage(s string) imageRef {
	var r imageRef
	if i := strings.Index(s, "@"); i >= 0 {
		s, r.Digest = s[:i], s[i+1:]
	}
	// A colon after the last slash starts the tag; one before it is a
	// registry port (localhost:5000/app).
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s, r.Tag = s[:i], s[i+1:]
	}
	r.Name = s
	return r
}

func (r imageRef) String() string {
	s := r.Name
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}
