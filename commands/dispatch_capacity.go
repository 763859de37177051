package commands

import (
	"context"
	"fmt"
	"strings"

	"odoobot/provision"
)

// CapacityReporter runs capacity: the host's figures and the recorded
// instances (provision.Service has it). Without it, capacity answers
// that it is not available on this server.
type CapacityReporter interface {
	Capacity(ctx context.Context) (provision.CapacityReport, error)
}

var _ CapacityReporter = (*provision.Service)(nil)

// capacityVerb runs capacity: the host's memory and disk, how many more
// instances fit under the capacity model, and each instance's memory use
// as systemd counts it (MemoryCurrent).
func (d *Dispatcher) capacityVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	cr := d.Capacity
	if cr == nil {
		return d.unavailable(ctx, cmd, r)
	}
	rep, err := cr.Capacity(ctx)
	if err != nil {
		return d.failed(ctx, r, cmd, err)
	}
	mem := make([]string, len(rep.Instances))
	for i, inst := range rep.Instances {
		switch {
		case len(rep.Services) == len(rep.Instances):
			mem[i] = memoryOf(rep.Services[i])
		case rep.ServicesError != "":
			mem[i] = "? (" + rep.ServicesError + ")"
		default:
			mem[i] = d.memoryUse(ctx, inst)
		}
	}
	long := func(ctx context.Context, text string) error { return r.Long(ctx, "", text) } // a table: a code block in chat
	text := FormatCapacity(rep, mem)
	if line := d.capacityTemplates(ctx); line != "" {
		text += "\n" + line
	}
	return "ok", d.withGraph(ctx, r, capacityGraph(d.Graphs), text, long)
}

// memoryUse is an instance's memory as systemd reports it, or why it is
// not known, from the instance's status: for a report that did not read
// the units itself.
func (d *Dispatcher) memoryUse(ctx context.Context, inst provision.Instance) string {
	if d.Operator == nil {
		return "?"
	}
	st, err := d.Operator.Status(ctx, inst.Name)
	if err != nil {
		d.logger().Warn("capacity: status", "instance", inst.Name, "err", err)
		return "? (" + err.Error() + ")"
	}
	return memoryOf(st.Service)
}

// memoryOf is a unit's memory as systemd reports it, or why it is not
// known.
func memoryOf(st provision.ServiceStatus) string {
	switch {
	case !st.Running():
		return "- (" + st.ActiveState + ")"
	case st.MemoryBytes == 0:
		return "? (not accounted)"
	}
	return fmt.Sprintf("%.1f MiB", float64(st.MemoryBytes)/(1<<20))
}

// FormatCapacity renders a capacity report; mem holds each instance's
// memory use, in the order of rep.Instances.
func FormatCapacity(rep provision.CapacityReport, mem []string) string {
	var b strings.Builder
	f, m := rep.Facts, rep.Model
	fmt.Fprintf(&b, "memory     %s total, %s available\n", provision.GiB(f.MemTotal), provision.GiB(f.MemAvailable))
	fmt.Fprintf(&b, "disk       %s free under %s\n", provision.GiB(f.DiskFree), rep.Root)
	fmt.Fprintf(&b, "model      %s of memory and %s of disk per instance, %s of memory for the system\n",
		provision.GiB(m.PerInstanceMemory), provision.GiB(m.PerInstanceDisk), provision.GiB(m.ReserveMemory))
	fmt.Fprintf(&b, "instances  %d now, %d in all under the model: %d more fit\n", len(rep.Instances), rep.Fits, rep.More)
	switch {
	case !rep.Next.Allowed:
		fmt.Fprintf(&b, "next       refused: %s\n", rep.Next.Reason)
	case rep.Next.Warning != "":
		fmt.Fprintf(&b, "next       allowed, with a warning: %s\n", rep.Next.Warning)
	}
	if rep.Archive != "" {
		fmt.Fprintf(&b, "archive    %s\n", rep.Archive)
	}
	if len(rep.Instances) > 0 {
		fmt.Fprintf(&b, "\n%-20s %-9s %s\n", "NAME", "STATE", "MEMORY")
		for i, inst := range rep.Instances {
			use := "?"
			if i < len(mem) {
				use = mem[i]
			}
			fmt.Fprintf(&b, "%-20s %-9s %s\n", inst.Name, inst.State, use)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
