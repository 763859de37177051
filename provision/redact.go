package provision

import "regexp"

// userinfo matches the credentials of a URL: scheme://user:token@host.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// RedactURLs hides the credentials of every URL in s (a private
// repository is often reached as https://user:token@host/…), so that
// errors, logs and chat never show them.
func RedactURLs(s string) string { return userinfo.ReplaceAllString(s, "${1}[redacted]@") }
