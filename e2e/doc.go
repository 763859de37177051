// Package e2e holds the end-to-end tests that run inside the sandbox host:
// a real systemd (PID 1 of its own namespaces, reached over its private
// D-Bus socket), Debian's nginx.service and a dedicated PostgreSQL cluster,
// with the stand-in Odoo (internal/standin) in place of Odoo.
//
// The tests are compiled on the machine and the binary is run inside:
//
//	go test -c -o bin/e2e.test ./e2e
//	scripts/sandbox.sh start
//	scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ./bin/e2e.test -test.v
//	scripts/sandbox.sh stop
//
// Outside the sandbox (ODOOBOT_IN_SANDBOX unset, or PID 1 not systemd)
// every test stops through testenv.Missing. The sandbox's PostgreSQL is
// reached with SANDBOX_DB_HOST, SANDBOX_DB_PORT, SANDBOX_DB_USER and
// SANDBOX_DB_PASSWORD (defaults 127.0.0.1, 5433, odoo, odoo), as
// scripts/sandbox.sh sets it up.
package e2e
