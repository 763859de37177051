// Package deploy holds what is installed on a server beside the odoobot
// binary (see the README, "On a real server"). Its Go side only embeds
// odoobot's systemd unit, so that tests judge the very file that ships.
package deploy

import _ "embed"

// OdoobotService is odoobot.service, odoobot's own systemd unit: it runs
// `odoobot serve` as root inside a sandbox that leaves writable only what
// odoobot writes at the configuration's default paths.
//
//go:embed odoobot.service
var OdoobotService []byte
