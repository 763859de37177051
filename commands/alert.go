package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"odoobot/provision"
)

// Alert is a message no command asked for, posted in the alert channels:
// its text, and the buttons under it. A button's click is the command it
// carries, typed by the one who clicked: the adapter hands it to Handle
// as a Request from that user in the alert's channel, so it is decided
// (role-checked), audited and answered exactly like the typed command.
type Alert struct {
	Text    string
	Actions []AlertAction
	// Mention, when set, is a user group the post notifies, in its
	// platform's own terms (a Slack subteam ID S…, a Discord role ID):
	// the adapter renders it (<!subteam^S…>, <@&…>) after the text. The
	// app sets it per channel (SLACK_ALERT_MENTION, DISCORD_ALERT_MENTION)
	// on a new card and on its repeats, never on an edit.
	Mention string
}

// AlertAction is one button under an alert.
type AlertAction struct {
	Label   string // "Restart"
	Command string // the command text a click runs: "restart acme"
}

// SilenceWindow and SilenceReason are the maintenance window the Silence
// button opens. The reason is short so that the whole command fits a
// Discord custom_id (100 characters) with a 50-character name.
const (
	SilenceWindow = time.Hour
	SilenceReason = "alert silenced"
)

// InstanceActions are the buttons of an open alert about instance name:
// Acknowledge, Restart, Logs (answered privately) and Silence 1 h (a
// one-hour maintenance window, opened by the clicker).
func InstanceActions(name string) []AlertAction {
	return []AlertAction{
		{Label: "Acknowledge", Command: string(VerbAck) + " " + name},
		{Label: "Restart", Command: string(VerbRestart) + " " + name},
		{Label: "Logs", Command: string(VerbLogs) + " " + name},
		{Label: "Silence 1 h", Command: string(VerbMaintenance) + " " + name + " 1h " + SilenceReason},
	}
}

// AlertCommand checks the command a clicked alert button carries and
// returns it as the text to hand to Handle: one of InstanceActions'
// commands (ack, restart, logs, the Silence window) or status, for an
// instance name, nothing more. The adapters call it on every click; a
// value that is not such a command is refused (the button was not made
// by InstanceActions).
func AlertCommand(value string) (string, error) {
	refused := fmt.Errorf("commands: %q is not an alert button's command (ack, restart, logs, status or the Silence window, and an instance name)", clipValue(value))
	cmd, err := Parse(value)
	if err != nil || cmd.Name == "" {
		return "", refused
	}
	words := strings.Fields(value)
	words[0] = string(cmd.Verb)
	typed := strings.Join(words, " ")
	allowed := append(InstanceActions(cmd.Name), AlertAction{Command: string(VerbStatus) + " " + cmd.Name})
	for _, a := range allowed {
		if a.Command == typed {
			return typed, nil
		}
	}
	return "", refused
}

func clipValue(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

// AlertBook keeps the alert cards (one per incident, edited as it
// develops). The dispatcher acknowledges through it and tells it what an
// operator did to an instance, which the instance's open card shows.
type AlertBook interface {
	// Acknowledge records that who took the open alert about name: its
	// card shows who and when, and it is not repeated any more. It
	// returns ErrNoOpenAlert when no alert about name is open, and
	// whether it had been acknowledged already (by whom: by).
	Acknowledge(ctx context.Context, name, who string) (by string, err error)
	// Note tells of an operator's service control or maintenance window
	// on an instance; a book without an open card about it ignores it.
	Note(ctx context.Context, n AlertNote)
}

// ErrNoOpenAlert: there is no open alert about the instance to
// acknowledge.
var ErrNoOpenAlert = errors.New("no open alert about this instance")

// AlertNote is what an operator did to an instance, for its card.
type AlertNote struct {
	Name string
	Verb Verb   // restart, start, stop or maintenance
	Who  string // the display name of who did it
	// Until is the end of the maintenance window opened (Verb
	// maintenance); zero when the window was ended.
	Until  time.Time
	Failed bool      // the command failed
	At     time.Time // when it was done
}

// ack runs "ack NAME": the open alert about NAME is acknowledged by the
// requester.
func (d *Dispatcher) ack(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	who := displayName(req.Identity)
	by, err := d.Alerts.Acknowledge(ctx, cmd.Name, who)
	if errors.Is(err, ErrNoOpenAlert) {
		msg := fmt.Sprintf("there is no open alert about %s to acknowledge", cmd.Name)
		return nil, "failed: " + msg, r.Private(ctx, msg)
	}
	if err != nil {
		outcome, err := d.failed(ctx, r, cmd, err)
		return nil, outcome, err
	}
	if by != "" {
		return nil, "ok (already acknowledged)", r.Private(ctx, fmt.Sprintf("the alert about %s was already acknowledged by %s", cmd.Name, by))
	}
	return nil, "ok", r.Reply(ctx, fmt.Sprintf("%s: alert acknowledged by %s; it is not repeated any more", cmd.Name, who))
}

// noteAlert tells the alert book, when there is one, of a service
// control or maintenance window on cmd.Name.
func (d *Dispatcher) noteAlert(ctx context.Context, req Request, cmd Command, until time.Time, err error) {
	if d.Alerts == nil {
		return
	}
	n := AlertNote{Name: cmd.Name, Verb: cmd.Verb, Who: displayName(req.Identity), Until: until, Failed: err != nil, At: d.now()}
	d.Alerts.Note(context.WithoutCancel(ctx), n)
}
