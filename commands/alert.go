package commands

import (
	"fmt"
	"strings"
)

// Alert is a message no command asked for, posted in the alert channels:
// its text, and the buttons under it. A button's click is the command it
// carries, typed by the one who clicked: the adapter hands it to Handle
// as a Request from that user in the alert's channel, so it is decided
// (role-checked), audited and answered exactly like the typed command.
type Alert struct {
	Text    string
	Actions []AlertAction
}

// AlertAction is one button under an alert.
type AlertAction struct {
	Label   string // "Restart"
	Command string // the command text a click runs: "restart acme"
}

// InstanceActions are the buttons of an alert about instance name:
// Restart and Logs.
func InstanceActions(name string) []AlertAction {
	return []AlertAction{
		{Label: "Restart", Command: string(VerbRestart) + " " + name},
		{Label: "Logs", Command: string(VerbLogs) + " " + name},
	}
}

// alertVerbs are the verbs a button may carry: a click never runs
// anything else, whatever the button's value says.
var alertVerbs = map[Verb]bool{VerbRestart: true, VerbLogs: true, VerbStatus: true}

// AlertCommand checks the command a clicked alert button carries and
// returns it as the text to hand to Handle: one of restart, logs or
// status, and an instance name, nothing more. The adapters call it on
// every click; a value that is not such a command is refused (the button
// was not made by InstanceActions).
func AlertCommand(value string) (string, error) {
	cmd, err := Parse(value)
	if err != nil || len(strings.Fields(value)) != 2 || !alertVerbs[cmd.Verb] || cmd.Name == "" {
		return "", fmt.Errorf("commands: %q is not an alert button's command (restart, logs or status and an instance name)", clipValue(value))
	}
	return string(cmd.Verb) + " " + cmd.Name, nil
}

func clipValue(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
