package slack_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
)

// manyInstances are n instances for an overview; every tenth fails.
func manyInstances(n int) []provision.Instance {
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	var list []provision.Instance
	for i := range n {
		inst := layout.NewInstance(fmt.Sprintf("i%03d", i), provision.SSLHTTP)
		inst.State, inst.Ports.HTTP = provision.StateReady, 8000+i
		list = append(list, inst)
	}
	return list
}

// homeDispatcher is a dispatcher whose overview shows list.
func homeDispatcher(t *testing.T, list *atomic.Pointer[[]provision.Instance]) *commands.Dispatcher {
	d := newDispatcher(t, newCreator(t), "")
	d.OverviewSources = &commands.OverviewSources{
		Instances: func(context.Context) ([]provision.Instance, error) { return *list.Load(), nil },
		Unit: func(_ context.Context, unit string) (provision.ServiceStatus, error) {
			if strings.HasSuffix(strings.TrimSuffix(unit, ".service"), "0") {
				return provision.ServiceStatus{ActiveState: "failed", SubState: "failed"}, nil
			}
			return provision.ServiceStatus{ActiveState: "active", SubState: "running", MemoryBytes: 250 << 20}, nil
		},
		Health: func(context.Context, int) string { return "" },
	}
	return d
}

// TestHomeViewOnOpenAndAfterJobs: opening the home tab publishes, for
// that user, a home view Slack accepts with every instance; a user off
// the allowlist is told they have no access and sees no instance; a
// refresh (after a job) publishes again for the admin who opened it,
// with the new instance. With 150 instances the view keeps within 100
// blocks: the failing first, then "and 60 more".
func TestHomeViewOnOpenAndAfterJobs(t *testing.T) {
	fs := newFakeSlack(t)
	var list atomic.Pointer[[]provision.Instance]
	two := manyInstances(2)
	list.Store(&two)
	d := homeDispatcher(t, &list)
	rb := startBot(t, fs, slack.Config{Handler: d, Home: d})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.HomeOpened("home-1", "U0123ABCD", "D0123HOME"))
	fs.WaitAck(t, "home-1", 5*time.Second)
	waitFor(t, "the admin's home view", func() bool { return len(fs.PublishedViews()) == 1 })
	p := fs.PublishedViews()[0]
	if p.User != "U0123ABCD" || !strings.Contains(p.Text(), "i000 (i000.example.com)") || !strings.Contains(p.Text(), "🟢 i001 (i001.example.com) — running") {
		t.Errorf("the admin's home view, for %s:\n%s", p.User, p.Text())
	}

	fs.Send(t, fs.HomeOpened("home-2", "U0666EVIL", "D0666HOME"))
	waitFor(t, "the stranger's home view", func() bool { return len(fs.PublishedViews()) == 2 })
	p = fs.PublishedViews()[1]
	if p.User != "U0666EVIL" || !strings.Contains(p.Text(), "You have no access to odoobot") || strings.Contains(p.Text(), "i00") {
		t.Errorf("the stranger's home view, for %s:\n%s", p.User, p.Text())
	}

	many := manyInstances(150)
	list.Store(&many)
	rb.bot.RefreshHome(context.Background())
	waitFor(t, "the views published again", func() bool { return len(fs.PublishedViews()) == 4 })
	for _, p := range fs.PublishedViews()[2:] {
		n := len(p.Blocks())
		text := p.Text()
		switch p.User {
		case "U0123ABCD":
			if n > slack.MaxHomeBlocks || !strings.Contains(text, "and 60 more: /odoo overview shows them all") || !strings.Contains(text, "🔴 i140") || strings.Contains(text, "i149") {
				t.Errorf("the admin's view of 150 instances has %d blocks:\n%s", n, text)
			}
			if first := p.Blocks()[3]; !strings.Contains(fmt.Sprint(first), "🔴 i000") {
				t.Errorf("the first instance shown is %v, want a failing one", first)
			}
		case "U0666EVIL":
			if strings.Contains(text, "i0") {
				t.Errorf("the stranger's refreshed view shows instances:\n%s", text)
			}
		default:
			t.Errorf("a view published for %s", p.User)
		}
	}
	if calls := fs.Calls(); len(calls) > 0 {
		for _, c := range calls {
			if c.Method == "views.publish" && c.Err != "" {
				t.Errorf("views.publish refused: %s", c.Err)
			}
		}
	}
}
