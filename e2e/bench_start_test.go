package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkRealOdooStart times Odoo's own start on real Odoo 17.0 and
// 19.0: the floor under a warm creation's service, health and verify
// steps, which odoobot cannot go below without an Odoo process already
// running. One instance is made; each run starts its stopped unit and
// waits, on the instance's own ports (not through nginx), for GET
// /web/health to answer 200 (the main process has imported Odoo and
// preloaded the registry, then forked its workers) and for /websocket to
// upgrade (101: the gevent worker, spawned after that preload, has
// imported Odoo and loaded the registry). It reports the median of each,
// from the start of `systemctl start`.
func BenchmarkRealOdooStart(b *testing.B) {
	for _, v := range []string{"17.0", "19.0"} {
		b.Run(v, func(b *testing.B) {
			realBenchEnv(b, v)
			cfg := benchEnv(b, false)
			a := benchApp(b, cfg)
			const name = "bench-real-start"
			benchCreate(b, a, name)
			defer benchDestroy(b, a, name)
			ctx := context.Background()
			inst, err := a.Store.Instance(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			var health, websocket []time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := a.Services.Stop(ctx, inst.Unit); err != nil {
					b.Fatalf("stop %s: %v", inst.Unit, err)
				}
				b.StartTimer()
				start := time.Now()
				if err := a.Services.Start(ctx, inst.Unit); err != nil {
					b.Fatalf("start %s: %v", inst.Unit, err)
				}
				awaitOdoo(b, "GET /web/health", func() bool { return healthOK(inst.Ports.HTTP) })
				health = append(health, time.Since(start))
				awaitOdoo(b, "websocket upgrade", func() bool { return websocketUpgrades(inst.Ports.Gevent) })
				websocket = append(websocket, time.Since(start))
			}
			b.ReportMetric(medianMS(health), "ms/health-median")
			b.ReportMetric(medianMS(websocket), "ms/websocket-median")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// awaitOdoo polls ok every 20 ms for up to a minute.
func awaitOdoo(b *testing.B, what string, ok func() bool) {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: no answer within a minute of the start", what)
		}
	}
}

// healthOK reports whether Odoo's HTTP port answers GET /web/health with 200.
func healthOK(port int) bool {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/web/health", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// websocketUpgrades reports whether Odoo's gevent port upgrades
// /websocket (101).
func websocketUpgrades(port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	status, err := websocketStatus(addr, addr)
	return err == nil && strings.Contains(status, " 101 ")
}
