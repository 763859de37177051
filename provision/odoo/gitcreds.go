package odoo

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"odoobot/internal/atomicfile"
)

// askpassName is the file, in the release cache, that git runs as its
// GIT_ASKPASS when a repository URL carries credentials.
const askpassName = "git-askpass"

// askpassScript answers git's prompts from the environment odoobot gives
// one git command (ODOOBOT_GIT_USERNAME, ODOOBOT_GIT_PASSWORD); it holds
// no secret itself. printf is the shell's own: the answer is on no
// command line.
const askpassScript = `#!/bin/sh
# odoobot: answers git from the environment of the one command it runs.
case "$1" in
Username*) printf '%s\n' "$ODOOBOT_GIT_USERNAME" ;;
*) printf '%s\n' "$ODOOBOT_GIT_PASSWORD" ;;
esac
`

// splitCredentials returns repo without the credentials of its URL, and
// them: only an http or https URL carries any (user:token@host); any
// other repository comes back as it is, with none.
func splitCredentials(repo string) (clean, user, password string, ok bool) {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return repo, "", "", false
	}
	user = u.User.Username()
	password, _ = u.User.Password()
	u.User = nil
	return u.String(), user, password, true
}

// withCredentials is the URL git is given for repo and the environment
// of that one git command: the URL without credentials (so that neither
// git's command line, nor the clone's .git/config and reflog, nor a
// message holds them) and env with the credentials for the askpass
// helper that sourceGitEnv put in GIT_ASKPASS.
func withCredentials(env []string, repo string) (string, []string) {
	clean, user, password, ok := splitCredentials(repo)
	if !ok {
		return repo, env
	}
	return clean, append(env[:len(env):len(env)], "ODOOBOT_GIT_USERNAME="+user, "ODOOBOT_GIT_PASSWORD="+password)
}

// installAskpass writes the askpass helper into cacheDir (root's, 0755:
// the build user runs it and nobody but root may change it) and returns
// env with GIT_ASKPASS naming it, when one of repos carries credentials;
// env as it is otherwise.
func installAskpass(cacheDir string, env []string, repos ...string) ([]string, error) {
	need := false
	for _, r := range repos {
		if _, _, _, ok := splitCredentials(r); ok {
			need = true
		}
	}
	if !need {
		return env, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(cacheDir, askpassName)
	if err := atomicfile.Write(path, []byte(askpassScript), 0o755); err != nil {
		return nil, err
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GIT_ASKPASS=") {
			out = append(out, kv)
		}
	}
	return append(out, "GIT_ASKPASS="+path), nil
}
