package nginx

import (
	"errors"
	"strings"
	"sync"

	"odoobot/provision"
	"odoobot/templates"
)

// hashDirective is one http-level hash bucket size odoobot's default
// server sets so that nginx holds the instances' long names (see
// provision.NginxServerNamesHashBucketSize).
type hashDirective struct {
	name string
	size int
	set  func(d *templates.DefaultServer, size int)
}

var hashDirectives = []hashDirective{
	{"server_names_hash_bucket_size", provision.NginxServerNamesHashBucketSize,
		func(d *templates.DefaultServer, n int) { d.ServerNamesHashBucketSize = n }},
	{"variables_hash_bucket_size", provision.NginxVariablesHashBucketSize,
		func(d *templates.DefaultServer, n int) { d.VariablesHashBucketSize = n }},
}

// hashSizes remembers which of hashDirectives the host's own nginx
// configuration sets: nginx refuses a second setting ("directive is
// duplicate"), so odoobot leaves those to the host. The zero value sets
// them all; it is safe for concurrent use.
type hashSizes struct {
	mu       sync.Mutex
	hostSets map[string]bool
}

// apply sets in d every directive the host does not set itself.
func (h *hashSizes) apply(d *templates.DefaultServer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hd := range hashDirectives {
		if !h.hostSets[hd.name] {
			hd.set(d, hd.size)
		}
	}
}

// learnDuplicate reports the directive of hashDirectives that err, a
// failed `nginx -t`, says is set twice, and remembers that the host sets
// it. It reports false for any other error, and for a directive already
// left to the host (so that a caller retrying on it cannot loop).
func (h *hashSizes) learnDuplicate(err error) (hashDirective, bool) {
	var te *TestError
	if !errors.As(err, &te) {
		return hashDirective{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hd := range hashDirectives {
		if strings.Contains(te.Output, `"`+hd.name+`" directive is duplicate`) && !h.hostSets[hd.name] {
			if h.hostSets == nil {
				h.hostSets = map[string]bool{}
			}
			h.hostSets[hd.name] = true
			return hd, true
		}
	}
	return hashDirective{}, false
}
