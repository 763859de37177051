package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/bot/shell"
	"odoobot/commands"
	"odoobot/internal/app"
	"odoobot/provision"
)

// TestTemplatesAheadOfNeed runs the ahead-of-need template builder as
// serve starts it, on a source repository of the test's own: started
// with a release no creation used yet, it builds that release's
// template with no creation asking; a commit on the configured branch is
// seen within TEMPLATE_CHECK and its template built; a creation arriving
// while that build runs waits for it, its thread saying so, and starts
// no build of its own; a creation once the next commit's template is
// built is warm (its thread shows no template build nor wait); the
// templates verb lists them all.
func TestTemplatesAheadOfNeed(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	repo := env.withTestRepo(t)
	env.set(t, "TEMPLATE_CHECK", "2s")
	fresh := repo.commit("a release no creation used", map[string]string{"FRESH": randomHex(t, 8) + "\n"})
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var commits []string
	commits = append(commits, fresh)
	removeTemplatesAtEnd(t, a, &commits)
	a.StartTemplates(ctx)

	requireTemplate(t, ctx, a, fresh, provision.TemplateReady, 5*time.Minute)

	// The next commit's init takes long enough for a creation to arrive
	// while it runs.
	main := string(repo.read("odoo-bin"))
	slow := strings.Replace(main, `os.environ.get("STANDIN_INIT_SECONDS", "0")`, `os.environ.get("STANDIN_INIT_SECONDS", "25")`, 1)
	if slow == main {
		t.Fatal("the stand-in's odoo-bin no longer reads STANDIN_INIT_SECONDS: the test cannot slow its init")
	}
	second := repo.commit("a slow template init", map[string]string{"odoo-bin": slow})
	commits = append(commits, second)
	requireTemplate(t, ctx, a, second, provision.TemplateBuilding, 5*time.Minute)
	name := uniqueName(t, "tw")
	th := createThread(t, ctx, a, name)
	// Its first word of the template is that it waits (the build's lines
	// follow); a build of its own would start with "building template".
	if w, b := th.index("waiting for template"), th.index("building template"); w < 0 || b >= 0 && b < w {
		t.Errorf("a creation during the ahead-of-need build: its thread does not say it waits for that build, or shows a build of its own:\n%s", th)
	}

	third := repo.commit("a fast template init again", map[string]string{"odoo-bin": main})
	commits = append(commits, third)
	requireTemplate(t, ctx, a, third, provision.TemplateReady, 5*time.Minute)
	name = uniqueName(t, "tw")
	th = createThread(t, ctx, a, name)
	if th.has("waiting for template") || th.has("building template") {
		t.Errorf("the creation after the ahead-of-need build is not warm: its thread shows a template build or wait:\n%s", th)
	}

	r, _ := dispatch(t, ctx, a, "templates")
	out := r.text()
	for _, c := range []string{fresh, second, third} {
		if !strings.Contains(out, c[:12]) {
			t.Errorf("templates does not list release %s:\n%s", c[:12], out)
		}
	}
	if !regexpLine(out, third[:12], "ready*") {
		t.Errorf("templates does not show %s's template ready and configured (ready*):\n%s", third[:12], out)
	}
	r, _ = dispatch(t, ctx, a, "capacity")
	if !strings.Contains(r.text(), "templates ") || !strings.Contains(r.text(), "ready") {
		t.Errorf("capacity has no line about templates:\n%s", r.text())
	}
}

// regexpLine reports whether one line of text holds all of parts.
func regexpLine(text string, parts ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) }) {
			return true
		}
	}
	return false
}

// requireTemplate waits until the templates list shows a template of
// commit in state.
func requireTemplate(t *testing.T, ctx context.Context, a *app.App, commit string, state provision.TemplateState, within time.Duration) provision.TemplateInfo {
	t.Helper()
	var found provision.TemplateInfo
	var last []provision.TemplateInfo
	ok := waitFor(within, func() bool {
		list, err := a.Dispatcher.Templates.Templates(ctx)
		if err != nil {
			t.Logf("templates: %v", err)
			return false
		}
		last = list
		i := slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Release == commit[:12] && x.State == state })
		if i >= 0 {
			found = list[i]
		}
		return i >= 0
	})
	if !ok {
		t.Fatalf("no template of release %s %s within %s: %+v", commit[:12], state, within, last)
	}
	return found
}

// createThread creates instance name in http mode through the
// dispatcher, with a thread that keeps every line it is shown, progress
// included (chat edits a step's line in place with it); it requires the
// creation to succeed and removes the instance when the test ends.
func createThread(t *testing.T, ctx context.Context, a *app.App, name string) *progressThread {
	t.Helper()
	destroyLater(t, a, name)
	th := &progressThread{}
	r := &threadRecorder{recorder: &recorder{}, th: th}
	task, err := a.Dispatcher.Handle(ctx, commands.Request{Identity: shell.Identity(), Channel: "e2e", Text: "create " + name + " http"}, r)
	if err != nil || task == nil {
		t.Fatalf("create %s was not accepted (%v):\n%s", name, err, r.text())
	}
	job, err := task.Wait(ctx)
	if err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("create %s: job %s, %v\n%s", name, job.State, err, th)
	}
	return th
}

// threadRecorder is a recorder whose threads keep progress lines.
type threadRecorder struct {
	*recorder
	th *progressThread
}

func (r *threadRecorder) Thread(context.Context, string) (commands.Thread, error) { return r.th, nil }

type progressThread struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressThread) add(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
	return nil
}
func (p *progressThread) Post(_ context.Context, text string) error { return p.add(text) }
func (p *progressThread) StepLine(_ context.Context, _ string, _ provision.EventKind, line string) error {
	return p.add(line)
}
func (p *progressThread) Finish(_ context.Context, root, summary string) error {
	return p.add(root + "\n" + summary)
}
func (p *progressThread) Ref() map[string]string { return map[string]string{"platform": "e2e"} }
func (p *progressThread) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.lines, func(l string) bool { return strings.Contains(l, s) })
}
func (p *progressThread) index(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.IndexFunc(p.lines, func(l string) bool { return strings.Contains(l, s) })
}
func (p *progressThread) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// removeTemplatesAtEnd removes, when the test ends (after its instances,
// before the app is closed), the templates of the test's commits and
// their releases: the sandbox's cluster and release cache are shared,
// and gc there would collect other tests' templates.
func removeTemplatesAtEnd(t *testing.T, a *app.App, commits *[]string) {
	t.Helper()
	cfg := a.Config
	lister := a.Dispatcher.Templates
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := lister.Templates(ctx)
		if err != nil {
			t.Logf("cleanup: templates: %v", err)
			return
		}
		conn, err := pgx.Connect(ctx, cfg.AdminDSN())
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, x := range list {
			if !slices.ContainsFunc(*commits, func(c string) bool { return x.Release == c[:12] }) || !strings.HasPrefix(x.Name, "odoobot_tpl_") {
				continue
			}
			id := pgx.Identifier{x.Name}.Sanitize()
			conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false")
			for _, db := range []string{x.Name, x.Name + "_spare", x.Name + "_spare_new", x.Name + "_init"} {
				if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
					t.Logf("cleanup: drop %s: %v", db, err)
				}
			}
			conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{x.Name + "_owner"}.Sanitize())
			os.RemoveAll(filepath.Join(cfg.StateDir, "templates", x.Name))
			os.Remove(filepath.Join(cfg.StateDir, "templates", x.Name+".json"))
			if x.Key != "" && !strings.ContainsAny(x.Key, "/.") {
				os.RemoveAll(filepath.Join(cfg.StateDir, "releases", x.Key))
				os.Remove(filepath.Join(cfg.StateDir, "releases", x.Key+".lock"))
			}
		}
	})
}
