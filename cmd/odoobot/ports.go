package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/ports"
)

// previewPorts finds the ports a creation would take now, without taking
// them: the lowest port of each range that no instance holds in the state
// store (read only; when the store cannot be reached, none is assumed
// held) and nothing on the host listens on. The note says which.
func previewPorts(ctx context.Context, cfg *config.Config) (provision.Ports, string) {
	held, note := map[int]bool{}, "free in the store and on the host; not reserved"
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, cfg.StateDSN()); err != nil {
		note = "free on the host; state store not reachable; not reserved"
	} else {
		defer conn.Close(ctx)
		var exists bool
		_ = conn.QueryRow(ctx, `SELECT to_regclass('odoobot.ports') IS NOT NULL`).Scan(&exists)
		if exists {
			rows, err := conn.Query(ctx, `SELECT port FROM odoobot.ports`)
			if err == nil {
				ports, _ := pgx.CollectRows(rows, pgx.RowTo[int])
				for _, p := range ports {
					held[p] = true
				}
			}
		}
	}
	first := func(r config.Range) int {
		for p := r.First; p <= r.Last; p++ {
			if !held[p] && !(ports.Host{}).InUse(p) {
				return p
			}
		}
		return 0
	}
	return provision.Ports{HTTP: first(cfg.HTTPPorts), Gevent: first(cfg.GeventPorts)}, note
}
