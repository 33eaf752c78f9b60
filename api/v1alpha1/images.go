package v1alpha1

import (
	"fmt"
	"sort"
	"strings"
)

// ImageList is a container → image map in the "container=image" form
// status.history and status.gitops carry, sorted by container.
func ImageList(images map[string]string) []string {
	out := make([]string, 0, len(images))
	for name, image := range images {
		out = append(out, name+"="+image)
	}
	sort.Strings(out)
	return out
}

// ParseImageList reads a "container=image" list; malformed entries are
// skipped.
func ParseImageList(list []string) map[string]string {
	out := map[string]string{}
	for _, s := range list {
		if name, image, ok := strings.Cut(strings.TrimSpace(s), "="); ok && name != "" && image != "" {
			out[name] = image
		}
	}
	return out
}

// ReleaseValue is an AnnotationRelease value: the token, then the images.
func ReleaseValue(token string, images map[string]string) string {
	return token + ";" + strings.Join(ImageList(images), ",")
}

// ParseRelease reads an AnnotationRelease value.
func ParseRelease(value string) (map[string]string, error) {
	_, list, ok := strings.Cut(value, ";")
	if !ok || list == "" {
		return nil, fmt.Errorf(`want "<token>;<container>=<image>[,<container>=<image>]"`)
	}
	items := strings.Split(list, ",")
	for _, item := range items {
		if name, image, ok := strings.Cut(strings.TrimSpace(item), "="); !ok || name == "" || image == "" {
			return nil, fmt.Errorf("%q is not <container>=<image>", item)
		}
	}
	return ParseImageList(items), nil
}
