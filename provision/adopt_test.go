package provision

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTrackedInstanceFormats(t *testing.T) {
	got := readTrackedInstances([]byte("prod-a\nb\nprod-c|c.example.com|2100|8072\nd, d.example.com, 2101\ne\t2102 8073\n  # comment\n"))
	want := map[string]trackedInstance{
		"prod-a": {line: 1}, "prod-b": {line: 2},
		"prod-c": {line: 3, domain: "c.example.com", ports: []int{2100, 8072}},
		"prod-d": {line: 4, domain: "d.example.com", ports: []int{2101}},
		"prod-e": {line: 5, ports: []int{2102, 8073}},
	}
	if diff := cmp.Diff(got, want, cmp.AllowUnexported(trackedInstance{})); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
}
