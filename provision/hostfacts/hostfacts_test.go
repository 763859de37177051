package hostfacts

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

func TestParseMeminfo(t *testing.T) {
	got, err := parseMeminfo([]byte("MemTotal:       24568740 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, provision.HostFacts{MemTotal: 24568740 << 10, MemAvailable: 20000000 << 10}); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
	if _, err := parseMeminfo([]byte("MemFree: 1 kB\n")); err == nil {
		t.Error("no MemTotal: no error")
	}
}

func TestRead(t *testing.T) {
	f, err := Read(t.TempDir() + "/not/yet/there")
	if err != nil {
		t.Fatal(err)
	}
	if f.MemTotal == 0 || f.MemAvailable == 0 || f.MemAvailable > f.MemTotal || f.DiskFree == 0 {
		t.Errorf("implausible facts %+v", f)
	}
	if _, err := Read("relative"); err == nil {
		t.Error("a relative root: no error")
	}
}
