package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxRequestText is the longest command text the dispatcher runs;
	// a longer one is refused, unrun (and audited, cut).
	MaxRequestText = 4096
	// maxEcho bounds the text of a refusal or failure shown in chat,
	// which may quote what the user typed.
	maxEcho = 1024
	// maxIdentity bounds a user name, user ID or channel.
	maxIdentity = 256
)

// cleanRequest is req as the dispatcher uses, audits and echoes it:
// valid UTF-8, without NUL or other control characters (each becomes
// U+FFFD, so that it stays visible and no name rule accepts it; tab and
// newline are kept in the text, where they separate words), and the
// identity's fields cut to maxIdentity bytes. PostgreSQL refuses NUL and
// invalid UTF-8: an audit insert must not fail on what a user typed.
func cleanRequest(req Request) Request {
	req.Text = cleanText(req.Text, true)
	req.Channel = cut(cleanText(req.Channel, false), maxIdentity)
	req.Identity.UserID = cut(cleanText(req.Identity.UserID, false), maxIdentity)
	req.Identity.UserName = cut(cleanText(req.Identity.UserName, false), maxIdentity)
	req.Identity.Platform = cut(cleanText(req.Identity.Platform, false), maxIdentity)
	return req
}

// cleanText is s as valid UTF-8 with every control character but (when
// spaces) tab, newline and carriage return replaced by U+FFFD.
func cleanText(s string, spaces bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if spaces && (r == '\t' || r == '\n' || r == '\r') {
			return r
		}
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// cut shortens s to at most n bytes on a rune boundary, ending with "…"
// when it was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	c := n
	for c > 0 && !utf8.RuneStart(s[c]) {
		c--
	}
	return s[:c] + "…"
}

// echo is a refusal or failure message as chat may show it: at most
// maxEcho bytes, saying how much was left out.
func echo(msg string) string {
	if len(msg) <= maxEcho {
		return msg
	}
	return cut(msg, maxEcho) + fmt.Sprintf(" (%d more bytes not shown)", len(msg)-maxEcho)
}
