package gitops

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
)

// redactURL hides a password embedded in a repo URL before it reaches a
// log line or an error message.
// RedactURL hides a password or token in a URL's user info, for messages,
// events and logs.
func RedactURL(raw string) string { return redactURL(raw) }

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// cacheKey names a clone's directory. A hash keeps URLs (and any
// credentials in them) out of file names and gives every repo and branch
// its own clone.
func cacheKey(repoURL, branch string) string {
	sum := sha256.Sum256([]byte(repoURL + "\x00" + branch))
	return hex.EncodeToString(sum[:12])
}
