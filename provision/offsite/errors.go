package offsite

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"odoobot/provision"
)

// The settings an error names instead of their values: the repository
// may hold credentials, the password file is nobody's business.
const (
	repoSetting     = "OFFSITE_REPOSITORY"
	passwordSetting = "OFFSITE_PASSWORD_FILE"
)

// errNoRepository is in the chain of Check's error when there is no
// repository at the location: the one failure Init repairs.
var errNoRepository = errors.New("no restic repository at the location")

// The hints of the failures odoobot's operator can fix.
const (
	hintPassword   = passwordSetting + " does not open the repository at " + repoSetting + ": give its password"
	hintNoRepo     = "no restic repository at " + repoSetting + ": run `odoobot setup` to create it, or fix the setting"
	hintUnreadable = passwordSetting + " cannot be read, or is empty: give a file (readable by root, mode 0600) that holds the repository's password"
	hintLocation   = repoSetting + " is not a location restic knows: a path, s3:https://HOST/BUCKET, sftp:USER@HOST:PATH or rest:https://HOST/"
	hintReach      = "the storage at " + repoSetting + " cannot be reached: check the network and the service, then try again"
	hintCreds      = "the storage at " + repoSetting + " refused odoobot: check the credentials given for it (access key and secret) or, for a path, its permissions"
	hintSpace      = "the storage at " + repoSetting + " is out of space: free space there, or forget old copies, then try again"
	hintLocked     = "another restic run holds the repository's lock: try again once it ends"
	hintLog        = "look at odoobot's log for restic's message"
)

// pattern is one kind of restic failure, known by what restic (or the
// backend library it uses) writes to its standard error.
type pattern struct {
	any  []string // any of these, case-insensitive
	kind provision.ErrorKind
	what string
	hint string
	err  error // added to the chain, for errors.Is
}

// patterns are tried in order; the first that matches wins. An
// unreachable storage comes before a missing repository: restic says
// "Is there a repository at the following location?" after a failed
// connection too.
var patterns = []pattern{
	{any: []string{"wrong password or no key found"},
		kind: provision.KindRefused, what: "the offsite repository refused its password", hint: hintPassword},
	{any: []string{"resolving password failed", "an empty password is not a password", "reading password", "password file"},
		kind: provision.KindRefused, what: "the offsite repository's password could not be read", hint: hintUnreadable},
	{any: []string{"parsing repository location failed", "invalid backend", "please specify repository location"},
		kind: provision.KindRefused, what: "the offsite repository's location is not valid", hint: hintLocation},
	{any: []string{"no space left on device", "disk quota exceeded", "quotaexceeded", "xminiostoragefull", "insufficient storage", "entitytoolarge"},
		kind: provision.KindBroken, what: "the offsite repository is out of space", hint: hintSpace},
	{any: []string{"connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
		"connection reset", "tls handshake timeout", "server misbehaving", "timeout awaiting response headers",
		"service unavailable", "serviceunavailable", "slowdown",
		"service is unable to handle request", "please reduce your request rate", "we encountered an internal error", "502 bad gateway", "504 gateway",
		"context deadline exceeded", "broken pipe", "temporary failure in name resolution"},
		kind: provision.KindUnavailable, what: "the offsite repository cannot be reached", hint: hintReach},
	{any: []string{"accessdenied", "access denied", "invalidaccesskeyid", "signaturedoesnotmatch", "403 forbidden",
		"401 unauthorized", "permission denied", "no valid credential"},
		kind: provision.KindRefused, what: "the offsite storage refused odoobot", hint: hintCreds},
	{any: []string{"repository is already locked"},
		kind: provision.KindConflict, what: "the offsite repository is locked by another run", hint: hintLocked},
	{any: []string{"is there a repository at the following location?", "unable to open config file"},
		kind: provision.KindRefused, what: "there is no offsite repository", hint: hintNoRepo, err: errNoRepository},
}

// classify turns a failed restic run into a provision.Error: its kind
// and words by what restic wrote (already redacted), its Err the
// action, the exit and restic's last lines for the log. A run stopped
// by ctx's end is told by what restic wrote before (a storage that
// refused connections while restic retried is unreachable, a full one
// is full), else as a run that did not end in time.
func classify(ctx context.Context, action string, res runResult, runErr error) error {
	tail := lastLines(res.stderr, 20, 2000)
	logErr := fmt.Errorf("offsite: %s: %w", action, runErr)
	if tail != "" {
		logErr = fmt.Errorf("offsite: %s: %w: %s", action, runErr, tail)
	}
	if ctx.Err() != nil {
		logErr = fmt.Errorf("%w (gave up: %w)", logErr, ctx.Err())
	}
	detail := strings.Split(lastLines(res.stderr, 5, 1000), "\n")
	if detail[0] == "" {
		detail = nil
	}
	if errors.Is(runErr, errTooMuch) {
		return &provision.Error{Kind: provision.KindBroken, What: "restic wrote more than odoobot reads", Hint: hintLog, Err: logErr}
	}
	var exitErr *exec.ExitError
	if ctx.Err() == nil && !errors.As(runErr, &exitErr) {
		// restic did not start (missing, not executable).
		return &provision.Error{Kind: provision.KindBroken, What: "restic could not be run",
			Hint: "install restic (apt-get install restic), or fix the binary's path", Err: logErr}
	}
	low := strings.ToLower(res.stderr)
	for _, p := range patterns {
		if p.err != nil && ctx.Err() != nil {
			// Not a missing repository: restic did not get to say.
			continue
		}
		for _, s := range p.any {
			if strings.Contains(low, s) {
				err := logErr
				if p.err != nil {
					err = fmt.Errorf("%w (%w)", logErr, p.err)
				}
				return &provision.Error{Kind: p.kind, What: p.what, Hint: p.hint, Detail: detail, Err: err}
			}
		}
	}
	if ctx.Err() != nil {
		what := "the offsite repository did not answer in time"
		if errors.Is(ctx.Err(), context.Canceled) {
			what = "the offsite call was stopped before it ended"
		}
		return &provision.Error{Kind: provision.KindUnavailable, What: what,
			Hint:   "try again; if it keeps failing, check that the storage at " + repoSetting + " answers",
			Detail: detail, Err: logErr}
	}
	return &provision.Error{Kind: provision.KindBroken, What: "restic could not " + action, Hint: hintLog, Detail: detail, Err: logErr}
}

// refused is the error for what the driver itself refuses before
// restic runs (a bad name, id or setting): nothing was changed.
func refused(what, hint string) error {
	return &provision.Error{Kind: provision.KindRefused, What: what, Hint: hint, Err: errors.New("offsite: " + what)}
}

// broken is the error for a run that ended well but left what odoobot
// cannot use.
func broken(what string, err error) error {
	return &provision.Error{Kind: provision.KindBroken, What: what, Hint: hintLog, Err: fmt.Errorf("offsite: %s: %w", what, err)}
}

// redact replaces in s, restic's output, the repository and the
// password file by the names of their settings, and any URL's
// credentials by "[redacted]": restic echoes the location it was
// given, and the location may hold a password.
func (r *Restic) redact(s string) string {
	for _, secret := range r.secrets() {
		s = strings.ReplaceAll(s, secret.value, secret.name)
	}
	return provision.RedactURLs(s)
}

type secret struct{ value, name string }

// secrets are the strings redact replaces, longest first so that a part
// never hides the whole: the repository as given, without its backend
// prefix (the URL the backend prints), and the password file's path.
func (r *Restic) secrets() []secret {
	var out []secret
	if r.Repository != "" {
		out = append(out, secret{r.Repository, repoSetting})
		if _, rest, ok := strings.Cut(r.Repository, ":"); ok && len(rest) > 6 {
			out = append(out, secret{rest, repoSetting})
		}
	}
	if len(r.PasswordFile) > 1 {
		out = append(out, secret{r.PasswordFile, passwordSetting})
	}
	return out
}

// lastLines is the last n lines of s, at most max bytes (cut at a line
// start when it can), without empty lines.
func lastLines(s string, n, max int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > max {
		out = out[len(out)-max:]
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out
}
