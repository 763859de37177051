package graph

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"testing"
	"time"

	"odoobot/provision"
)

var keep = flag.String("keep", "", "write the test graphs to this directory, to look at")

func ptr[T any](v T) *T { return &v }

// day is a day of samples every minute: memory rising to 400 MiB, CPU
// at 25 % of a core, response around 40 ms; a restart at 12:00 resets
// the CPU counter and loses one sample's response.
func day(end time.Time) []provision.Sample {
	var out []provision.Sample
	var cpu int64
	for i := 0; i < 24*60; i++ {
		at := end.Add(time.Duration(i-24*60) * time.Minute)
		cpu += int64(15 * time.Second)
		if i == 12*60 {
			cpu = 0
		}
		s := provision.Sample{Instance: "acme", At: at,
			MemoryBytes: ptr(int64(200+i%200) << 20), CPUNanos: ptr(cpu),
			Response: ptr(time.Duration(30+10*math.Sin(float64(i)/60)) * time.Millisecond)}
		if i == 12*60 {
			s.Response = nil
		}
		out = append(out, s)
	}
	return out
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the graph does not decode as PNG: %v", err)
	}
	if got := img.Bounds().Size(); got != (image.Point{X: Width, Y: Height}) {
		t.Fatalf("the graph is %v, want %dx%d", got, Width, Height)
	}
	return img
}

// count is how many pixels are c (within a small tolerance: lines are
// antialiased at their edges, not their middle).
func count(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool {
	d := int(v>>8) - int(want)
	return d >= -6 && d <= 6
}

func save(t *testing.T, name string, b []byte) {
	if *keep != "" {
		if err := os.WriteFile(*keep+"/"+name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatusPNGDrawsEverySeriesAndMarker(t *testing.T) {
	end := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	b, err := StatusPNG(Status{Instance: "acme", From: end.Add(-24 * time.Hour), To: end, Samples: day(end),
		Markers: []provision.Marker{
			{At: end.Add(-12 * time.Hour), Kind: provision.MarkRestart},
			{At: end.Add(-6 * time.Hour), Kind: provision.MarkBackup},
			{At: end.Add(-3 * time.Hour), Kind: provision.MarkDeploy},
		}})
	if err != nil {
		t.Fatal(err)
	}
	save(t, "status.png", b)
	img := decode(t, b)
	for name, c := range map[string]color.RGBA{
		"memory": MemoryColor, "CPU": CPUColor, "response": ResponseColor,
		"restart": MarkerColors[provision.MarkRestart], "backup": MarkerColors[provision.MarkBackup], "deploy": MarkerColors[provision.MarkDeploy],
	} {
		if n := count(img, c); n < 100 {
			t.Errorf("%s: %d pixels of its colour %v, want a drawn series (at least 100)", name, n, c)
		}
	}
	if len(b) > 150<<10 {
		t.Errorf("the PNG is %d bytes, want under 150 KiB for chat", len(b))
	}
}

func TestStatusPNGLeavesOutWhatIsMissing(t *testing.T) {
	end := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	samples := day(end)
	for i := range samples {
		samples[i].CPUNanos = nil // cgroup v1 without CPU accounting
	}
	b, err := StatusPNG(Status{Instance: "acme", From: end.Add(-24 * time.Hour), To: end, Samples: samples})
	if err != nil {
		t.Fatal(err)
	}
	save(t, "status-nocpu.png", b)
	img := decode(t, b)
	if n := count(img, CPUColor); n != 0 {
		t.Errorf("CPU unknown in every sample, yet %d pixels of its colour: an unknown figure drawn as a value", n)
	}
	if n := count(img, MemoryColor); n < 100 {
		t.Errorf("memory: %d pixels, want its series", n)
	}
}

func TestNoSamplesIsNoGraph(t *testing.T) {
	if _, err := StatusPNG(Status{Instance: "acme"}); !errors.Is(err, ErrNoSamples) {
		t.Errorf("StatusPNG without samples: %v, want ErrNoSamples", err)
	}
	if _, err := CapacityPNG(Capacity{}); !errors.Is(err, ErrNoSamples) {
		t.Errorf("CapacityPNG without samples: %v, want ErrNoSamples", err)
	}
}

func TestCapacityPNGStacksInstances(t *testing.T) {
	end := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	from := end.Add(-7 * 24 * time.Hour)
	var host []provision.HostSample
	var mem []provision.MemoryPoint
	for at := from; at.Before(end); at = at.Add(15 * time.Minute) {
		host = append(host, provision.HostSample{At: at, MemTotal: 24 << 30, MemUsed: 6 << 30, DiskTotal: 500 << 30, DiskFree: 300 << 30})
		mem = append(mem, provision.MemoryPoint{Instance: "acme", At: at, MemoryBytes: 2 << 30},
			provision.MemoryPoint{Instance: "beta", At: at, MemoryBytes: 1 << 30})
	}
	b, err := CapacityPNG(Capacity{From: from, To: end, Host: host, Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	save(t, "capacity.png", b)
	img := decode(t, b)
	for name, c := range map[string]color.RGBA{"used": MemoryColor, "disk": DiskColor, "acme": stackColors[0], "beta": stackColors[1]} {
		if n := count(img, c); n < 100 {
			t.Errorf("%s: %d pixels of its colour, want it drawn", name, n)
		}
	}
}

func BenchmarkStatusPNG(b *testing.B) {
	end := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	s := Status{Instance: "acme", From: end.Add(-24 * time.Hour), To: end, Samples: day(end)}
	for b.Loop() {
		if _, err := StatusPNG(s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTimeTicksAreRoundTimes: a day is labelled every 3 hours on the
// hour, a few minutes every minute or so, and never more than 8 labels.
func TestTimeTicksAreRoundTimes(t *testing.T) {
	end := time.Date(2026, 12, 7, 17, 43, 12, 0, time.UTC)
	for _, c := range []struct {
		span  time.Duration
		first string
		step  time.Duration
	}{{24 * time.Hour, "18:00", 3 * time.Hour}, {5 * time.Minute, "17:39", time.Minute}} {
		from := end.Add(-c.span)
		var labels []plotTick
		for _, tk := range (timeTicks{format: "15:04"}).Ticks(float64(from.Unix()), float64(end.Unix())) {
			if tk.Label != "" {
				labels = append(labels, plotTick{tk.Value, tk.Label})
			}
		}
		if len(labels) == 0 || len(labels) > 8 || labels[0].label != c.first {
			t.Errorf("span %s: labels %v, want from %s, at most 8", c.span, labels, c.first)
			continue
		}
		for i := 1; i < len(labels); i++ {
			if d := labels[i].value - labels[i-1].value; d != c.step.Seconds() {
				t.Errorf("span %s: labels %v are %gs apart, want %s", c.span, labels, d, c.step)
				break
			}
		}
	}
}

type plotTick struct {
	value float64
	label string
}
