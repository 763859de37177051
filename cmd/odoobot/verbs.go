package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"odoobot/bot/discord"
	"odoobot/bot/shell"
	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/internal/watch"
	"odoobot/provision"
)

// hostVerbs are the CLI verbs that run through the dispatcher, as the
// chat's do, with the local user's identity.
var hostVerbs = map[string]bool{
	"create": true, "list": true, "status": true, "info": true, "logs": true,
	"restart": true, "stop": true, "start": true, "maintenance": true, "whoami": true, "audit": true,
	"backup": true, "backups": true, "restore": true, "delete": true, "drill": true,
	"capacity": true, "certs": true, "reset-admin": true, "clone": true, "upgrade": true,
	"overview":  true,
	"templates": true,
}

// verbs runs the verbs that operate on the host, and serve.
func verbs(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, cfg *config.Config, verb string, args []string) error {
	if verb == "import" {
		return importVerb(ctx, stdout, cfg, args)
	}
	if verb == "isolate" {
		return isolateVerb(ctx, stdout, stderr, cfg, args)
	}
	if verb == "gc" {
		return gcVerb(ctx, stdout, stderr, cfg, args)
	}
	if verb != "serve" && !hostVerbs[verb] {
		return &usageError{msg: "unknown verb " + verb + "\n" + usage}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opt := hookOptions()
	a, err := app.New(ctx, cfg, log, opt)
	if err != nil {
		return err
	}
	defer a.Close()
	if verb == "serve" {
		return serve(ctx, stdin, stdout, log, a)
	}
	if !readOnlyVerbs[verb] {
		if err := recoverJobs(ctx, stderr, a, nil); err != nil {
			return err
		}
	}
	yes := false
	var words []string
	for _, w := range args {
		if w == "--yes" || w == "-y" {
			yes = true
			continue
		}
		words = append(words, w)
	}
	r := shell.NewCLIResponder(stdout)
	req := commands.Request{Identity: shell.Identity(), Channel: "cli", Text: strings.Join(append([]string{verb}, words...), " ")}
	task, err := a.Dispatcher.Handle(ctx, req, r)
	if err != nil {
		return err
	}
	if code := r.PendingCode(); code != "" {
		if !yes {
			return &usageError{msg: verb + " needs a confirmation: run it again with --yes"}
		}
		req.Text = "confirm " + code
		if task, err = a.Dispatcher.Handle(ctx, req, r); err != nil {
			return err
		}
	}
	if task != nil {
		job, err := task.Wait(ctx)
		if err != nil && ctx.Err() != nil {
			// The job goes on: closing the app waits for it to finish
			// or roll back, never leaving it half-done.
			fmt.Fprintln(stderr, "odoobot: interrupted: waiting for the running job to finish or roll back")
			return ctx.Err()
		}
		if err != nil || job.State != provision.JobSucceeded {
			return jobFailed(verb, words, job, err)
		}
	}
	what := strings.Join(append([]string{verb}, words...), " ")
	if r.Failed() {
		return errors.New(what + " failed: see ✗ above")
	}
	if r.Refused() {
		return errors.New(what + " was refused: see ✗ above")
	}
	return nil
}

// printEvents is a job's subscriber that prints each event as a line:
// its time, kind, step and message.
func printEvents(w io.Writer) provision.Subscriber {
	return func(e provision.Event) {
		line := e.At.Format("15:04:05") + " " + string(e.Kind) + " " + e.Step
		if e.Message != "" {
			line += ": " + e.Message
		}
		fmt.Fprintln(w, line)
	}
}

// jobFailed is the CLI's error for a job that did not succeed: the verb,
// the instance, the step that failed (from err, the task's *StepError),
// what was left undone, and what the verb's failure means for the
// instance. The job's thread, above it, says why in full.
func jobFailed(verb string, words []string, job provision.Job, err error) error {
	name := ""
	if len(words) > 0 {
		name = " " + words[0]
	}
	var se *provision.StepError
	if !errors.As(err, &se) {
		why := job.Error
		if err != nil {
			why = err.Error()
		}
		if why == "" {
			why = "it ended " + string(job.State)
		}
		return fmt.Errorf("%s%s did not succeed: %s", verb, name, why)
	}
	at := " at step " + string(se.Step)
	left := ""
	if len(se.Left) > 0 {
		left = "; could NOT undo " + strings.Join(se.Left, ", ") + ": see the job's log"
	}
	switch verb {
	case "create":
		return errors.New("the creation of" + name + " failed" + at + " and was rolled back" + left)
	case "delete":
		return errors.New("delete" + name + " stopped" + at + left + ": run it again to finish it")
	case "restore":
		if left != "" {
			return errors.New("restore" + name + " failed" + at + left)
		}
		return errors.New("restore" + name + " failed" + at + ": the instance is as it was before")
	case "upgrade":
		if left != "" {
			return errors.New("upgrade" + name + " failed" + at + " and could NOT be fully rolled back" + left)
		}
		return errors.New("upgrade" + name + " failed" + at + ": it runs its old release as before")
	case "clone":
		dst := ""
		if len(words) > 1 {
			dst = " to " + words[1]
		}
		return errors.New("clone" + name + dst + " failed" + at + " and was rolled back" + left)
	case "isolate":
		return errors.New("isolate" + name + " failed" + at + " and was undone" + left)
	}
	return errors.New(verb + name + " failed" + at + left)
}

// hookOptions are the app's options with the test hooks the environment
// sets: ODOOBOT_FAIL_AT fails a step of every job, ODOOBOT_KILL_AT kills
// odoobot when a step starts (a crash, for recovery's tests).
func hookOptions() app.Options {
	return app.Options{
		FailAt:  provision.StepName(os.Getenv("ODOOBOT_FAIL_AT")),
		KillAt:  provision.StepName(os.Getenv("ODOOBOT_KILL_AT")),
		Version: version,
	}
}

// readOnlyVerbs change nothing: they never run recovery, which rolls
// back the jobs it takes for orphans and sweeps DNS records. A look at
// the instances must never touch a job another odoobot may be running.
var readOnlyVerbs = map[string]bool{
	"list": true, "status": true, "info": true, "logs": true, "backups": true,
	"capacity": true, "certs": true, "help": true, "whoami": true, "overview": true,
	"templates": true,
}

// reporter posts a line in the thread a job's reference names.
type reporter func(ctx context.Context, ref map[string]string, text string) error

// recoverJobs ends the jobs a stopped odoobot left open (finishing those
// whose change was recorded as made, rolling back the others) and tells
// about each: on stderr, and in the job's
// chat thread when report can reach it.
func recoverJobs(ctx context.Context, stderr io.Writer, a *app.App, report reporter) error {
	recovered, err := a.Recover(ctx)
	if err != nil {
		return err
	}
	for _, j := range recovered {
		mark, text := "⚠ ", fmt.Sprintf("job %d (%s %s, asked by %s) was interrupted when odoobot stopped: %s", j.ID, j.Kind, j.Instance, j.RequestedBy, j.Error)
		if j.State == provision.JobSucceeded {
			mark, text = "✅ ", fmt.Sprintf("job %d (%s %s, asked by %s) had made its change when odoobot stopped: recovery finished it, and it is recorded as succeeded", j.ID, j.Kind, j.Instance, j.RequestedBy)
		}
		fmt.Fprintln(stderr, "odoobot:", text)
		if report != nil && len(j.ChatRef) > 0 {
			if err := report(ctx, j.ChatRef, mark+text); err != nil {
				fmt.Fprintln(stderr, "odoobot: could not report in the job's thread:", err)
			}
		}
	}
	return nil
}

// serve runs the configured adapters: Slack and Discord when their
// tokens are set, side by side; the terminal when neither is. It refuses
// to start when someone other than root can move a directory it writes
// into as root (App.CheckRootPaths). Jobs left
// open by a previous run are reported in their threads first. The
// on-call watcher posts in the alert channels, with buttons.
func serve(ctx context.Context, stdin io.Reader, stdout io.Writer, log *slog.Logger, a *app.App) error {
	cfg := a.Config
	if err := a.CheckRootPaths(); err != nil {
		return err
	}
	if err := a.CheckOffsite(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "odoobot %s serving %s (instances under %s)\n", version, cfg.Zone(), cfg.ProdRoot)
	var runs []func(context.Context) error
	var slackBot *slack.Bot
	var discordBot *discord.Bot
	if cfg.SlackBotToken != "" {
		b, err := slack.New(slack.Config{
			BotToken: cfg.SlackBotToken.Reveal(), AppToken: cfg.SlackAppToken.Reveal(),
			APIURL: cfg.SlackAPIURL, Handler: a.Dispatcher, Logger: log, GroupsMatter: a.Dispatcher.GroupsMatter,
			Picker: a.Dispatcher, CheckName: a.Dispatcher.Rules.Check, Home: a.Dispatcher,
		})
		if err != nil {
			return err
		}
		slackBot, runs = b, append(runs, b.Run)
		a.OnJobEnd(func(context.Context, provision.Job) { b.RefreshHome(ctx) })
		if ch := cfg.SlackAlerts; ch != "" {
			a.AddAlertCards(watch.Channel{
				Name: "slack", Mention: cfg.SlackAlertMention,
				Post: func(ctx context.Context, alert commands.Alert) (string, error) { return b.PostAlert(ctx, ch, alert) },
				Update: func(ctx context.Context, ts string, alert commands.Alert) error {
					return b.UpdateAlert(ctx, ch, ts, alert)
				},
			})
		}
	}
	if cfg.DiscordToken != "" {
		b, err := discord.New(discord.Config{
			Token: cfg.DiscordToken.Reveal(), AppID: cfg.DiscordAppID, GuildID: cfg.DiscordGuild,
			APIURL: cfg.DiscordAPIURL, Handler: a.Dispatcher, Logger: log,
		})
		if err != nil {
			return err
		}
		discordBot, runs = b, append(runs, b.Run)
		if ch := cfg.DiscordAlerts; ch != "" {
			a.AddAlertCards(watch.Channel{
				Name: "discord", Mention: cfg.DiscordAlertMention,
				Post: func(ctx context.Context, alert commands.Alert) (string, error) { return b.PostAlert(ctx, ch, alert) },
				Update: func(ctx context.Context, id string, alert commands.Alert) error {
					return b.UpdateAlert(ctx, ch, id, alert)
				},
			})
		}
	}
	// A Slack thread reference holds "ts", a Discord one "message".
	report := func(ctx context.Context, ref map[string]string, text string) error {
		switch {
		case ref["ts"] != "" && slackBot != nil:
			return slackBot.ReportInThread(ctx, ref, text)
		case ref["message"] != "" && discordBot != nil:
			return discordBot.ReportInThread(ctx, ref, text)
		}
		return nil
	}
	a.RepairCertificates(ctx)
	if err := recoverJobs(ctx, stdout, a, report); err != nil {
		return err
	}
	// The approval requests a previous run left open: decided as if it
	// had never stopped, their messages edited once decided or expired.
	a.Dispatcher.ApprovalMessages = map[string]commands.ApprovalMessages{}
	if slackBot != nil {
		a.Dispatcher.ApprovalMessages[commands.PlatformSlack] = slackBot
	}
	if discordBot != nil {
		a.Dispatcher.ApprovalMessages[commands.PlatformDiscord] = discordBot
	}
	if n, err := a.Dispatcher.ResumeApprovals(ctx); err != nil {
		log.Error("the approval requests of the previous run could not be read: they are lost", "err", err)
	} else if n > 0 {
		log.Info("approval requests of the previous run are open again", "count", n)
	}
	a.StartOrigin(ctx)
	a.StartRenewal(ctx)
	a.StartBackups(ctx)
	a.StartOffsite(ctx)
	a.StartDrills(ctx)
	a.StartPITR(ctx)
	a.StartWatch(ctx)
	a.StartMetrics(ctx)
	a.StartTemplates(ctx)
	if len(runs) == 0 {
		return shell.Run(ctx, stdin, stdout, a.Dispatcher, shell.Identity())
	}
	return runAdapters(ctx, log, runs)
}

// runAdapters runs each chat adapter until ctx ends. An adapter that
// stops with an error (a refused token) is logged and leaves the others,
// and the jobs, running: one platform's trouble never stops another.
// It returns once every adapter has returned, with their errors joined
// when all of them failed (nothing is left to serve), nil otherwise.
func runAdapters(ctx context.Context, log *slog.Logger, runs []func(context.Context) error) error {
	errs := make(chan error, len(runs))
	for _, run := range runs {
		go func() { errs <- run(ctx) }()
	}
	var failed []error
	for range runs {
		if err := <-errs; err != nil {
			log.Error("a chat adapter stopped; the others go on", "err", err)
			failed = append(failed, err)
		}
	}
	if len(failed) == len(runs) {
		return errors.Join(failed...)
	}
	return nil
}
