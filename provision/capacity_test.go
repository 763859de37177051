package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const gib = 1 << 30

// fitCount is how many instances Check lets a host hold, one creation at
// a time.
func fitCount(f HostFacts, m CapacityModel) int {
	n := 0
	for Check(f, n, m).Allowed {
		n++
		if n > 1000 {
			break
		}
	}
	return n
}

// TestCheckFollowsAPIDEVGuidance: the default model gives API-DEV's
// recommendation for its three host sizes, whether "4 GB" is read as
// what the kernel reports for 4 GiB of RAM or as 4×10⁹ bytes.
func TestCheckFollowsAPIDEVGuidance(t *testing.T) {
	disk := uint64(100 * gib)
	for _, tc := range []struct {
		host     string
		memTotal uint64
		min, max int // API-DEV's range; max 0: no upper bound
	}{
		{"4 GB (MemTotal of 4 GiB RAM)", 3900 << 20, 2, 3},
		{"4 GB (4e9 bytes)", 4e9, 2, 3},
		{"4 GiB exactly", 4 * gib, 2, 3},
		{"8 GB (MemTotal of 8 GiB RAM)", 7900 << 20, 4, 6},
		{"8 GB (8e9 bytes)", 8e9, 4, 6},
		{"16 GB (MemTotal of 16 GiB RAM)", 15900 << 20, 8, 0},
		{"16 GB (16e9 bytes)", 16e9, 8, 0},
	} {
		f := HostFacts{MemTotal: tc.memTotal, MemAvailable: tc.memTotal / 2, DiskFree: disk}
		got := fitCount(f, DefaultCapacityModel())
		if got < tc.min || (tc.max > 0 && got > tc.max) {
			t.Errorf("%s: the default model holds %d instances, want %d–%d (0: any)", tc.host, got, tc.min, tc.max)
		}
		if fits := DefaultCapacityModel().Fits(f); fits != got {
			t.Errorf("%s: Fits = %d, Check allows %d", tc.host, fits, got)
		}
	}
}

func TestCheck(t *testing.T) {
	def := DefaultCapacityModel()
	for _, tc := range []struct {
		name    string
		f       HostFacts
		n       int
		m       CapacityModel
		allowed bool
		reason  []string // substrings of the refusal
		warning []string // substrings of the warning; nil: no warning
	}{
		{
			name: "empty big host", f: HostFacts{MemTotal: 24 * gib, MemAvailable: 20 * gib, DiskFree: 80 * gib},
			m: def, allowed: true,
		},
		{
			name: "4th on a 3.8 GiB host", f: HostFacts{MemTotal: 3891 << 20, MemAvailable: gib, DiskFree: 80 * gib}, n: 3,
			m: def, reason: []string{"this host has 3.8 GiB of memory: 3 instances take 3.0 GiB at 1.0 GiB each plus 1.0 GiB for the system; a 4th would exceed it"},
		},
		{
			name: "1st refused by an absurd model", f: HostFacts{MemTotal: 24 * gib, MemAvailable: 20 * gib, DiskFree: 80 * gib},
			m: CapacityModel{PerInstanceMemory: 24 * gib, ReserveMemory: gib}, reason: []string{"0 instances take 0.0 GiB at 24.0 GiB each", "a 1st would exceed it"},
		},
		{
			name: "2nd: singular", f: HostFacts{MemTotal: 2 * gib, MemAvailable: gib, DiskFree: 80 * gib}, n: 1,
			m: def, reason: []string{"1 instance take", "a 2nd would exceed"},
		},
		{
			name: "disk full", f: HostFacts{MemTotal: 24 * gib, MemAvailable: 20 * gib, DiskFree: gib}, n: 0,
			m: def, reason: []string{"only 1.0 GiB of disk is free", "needs 2.0 GiB"},
		},
		{
			name: "above 80 % warns", f: HostFacts{MemTotal: 10 * gib, MemAvailable: 4 * gib, DiskFree: 80 * gib}, n: 7,
			m: def, allowed: true, warning: []string{"8 instances at 1.0 GiB each plus 1.0 GiB for the system take 90 % of the host's 10.0 GiB", "above 80 %"},
		},
		{
			name: "at 80 % does not warn", f: HostFacts{MemTotal: 10 * gib, MemAvailable: 4 * gib, DiskFree: 80 * gib}, n: 6,
			m: def, allowed: true,
		},
		{
			name: "little available now warns", f: HostFacts{MemTotal: 24 * gib, MemAvailable: 512 << 20, DiskFree: 80 * gib},
			m: def, allowed: true, warning: []string{"only 0.5 GiB of memory is available now"},
		},
		{
			name: "last disk slot warns", f: HostFacts{MemTotal: 24 * gib, MemAvailable: 20 * gib, DiskFree: 3 * gib},
			m: def, allowed: true, warning: []string{"1.0 GiB of disk will be left"},
		},
		{
			name: "zero model fields take defaults", f: HostFacts{MemTotal: 4 * gib, MemAvailable: 2 * gib, DiskFree: 80 * gib}, n: 3,
			m: CapacityModel{ReserveMemory: gib}, reason: []string{"at 1.0 GiB each"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(tc.f, tc.n, tc.m)
			if v.Allowed != tc.allowed {
				t.Fatalf("Allowed = %v, want %v (%+v)", v.Allowed, tc.allowed, v)
			}
			if tc.allowed != (v.Reason == "") {
				t.Errorf("Reason = %q with Allowed %v", v.Reason, v.Allowed)
			}
			for _, s := range tc.reason {
				if !strings.Contains(v.Reason, s) {
					t.Errorf("Reason = %q, want it to contain %q", v.Reason, s)
				}
			}
			if (tc.warning == nil) != (v.Warning == "") {
				t.Errorf("Warning = %q, want one: %v", v.Warning, tc.warning != nil)
			}
			for _, s := range tc.warning {
				if !strings.Contains(v.Warning, s) {
					t.Errorf("Warning = %q, want it to contain %q", v.Warning, s)
				}
			}
		})
	}
}

func TestMore(t *testing.T) {
	m := DefaultCapacityModel()
	for _, tc := range []struct {
		f    HostFacts
		n    int
		want int
	}{
		{HostFacts{MemTotal: 8 * gib, DiskFree: 80 * gib}, 0, 7},
		{HostFacts{MemTotal: 8 * gib, DiskFree: 80 * gib}, 5, 2},
		{HostFacts{MemTotal: 8 * gib, DiskFree: 80 * gib}, 9, 0},
		{HostFacts{MemTotal: 8 * gib, DiskFree: 5 * gib}, 0, 2}, // disk bound
		{HostFacts{MemTotal: gib / 2, DiskFree: 80 * gib}, 0, 0},
	} {
		if got := m.More(tc.f, tc.n); got != tc.want {
			t.Errorf("More(%+v, %d) = %d, want %d", tc.f, tc.n, got, tc.want)
		}
	}
}

func TestGuardAdmit(t *testing.T) {
	facts := fixedFacts{MemTotal: 4 * gib, MemAvailable: 3 * gib, DiskFree: 80 * gib}
	var warned []string
	g := CapacityGuard{Model: DefaultCapacityModel(), Root: "/srv", Facts: facts}
	for n, want := range map[int]bool{0: true, 2: true, 3: false} {
		g.Count = func(context.Context) (int, error) { return n, nil }
		w, err := g.Admit(context.Background())
		if w != "" {
			warned = append(warned, w)
		}
		if (err == nil) != want {
			t.Errorf("%d instances: Admit = %v, want allowed %v", n, err, want)
		}
		if err != nil {
			var ce *CapacityError
			if !errors.Is(err, ErrNoCapacity) || !errors.As(err, &ce) || !strings.Contains(err.Error(), "a 4th would exceed it") {
				t.Errorf("refusal %v: not ErrNoCapacity with the numbers", err)
			}
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "100 %") {
		t.Errorf("warnings %q, want one for the 3rd instance (100 %% of the memory)", warned)
	}
	boom := errors.New("store down")
	g.Count = func(context.Context) (int, error) { return 0, boom }
	if _, err := g.Admit(context.Background()); !errors.Is(err, boom) {
		t.Errorf("count error: Admit = %v", err)
	}
}

// fixedFacts is a host whose facts never change, a test double of
// provision/hostfacts.
type fixedFacts HostFacts

func (f fixedFacts) HostFacts(string) (HostFacts, error) { return HostFacts(f), nil }
