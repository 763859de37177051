// Package graph draws the pictures status and capacity attach: an
// instance's last 24 hours (memory, CPU, response time, with markers at
// restarts, deploys and backups) and the host's week (memory with the
// instances stacked, disk), as PNG images of a fixed size, with
// gonum.org/v1/plot (pure Go, no cgo: vgimg rasterises, image/png
// encodes).
package graph

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"odoobot/provision"
)

// Width and Height are every graph's size in pixels: wide enough for a
// day's minutes, and read on a phone held sideways (3:2) or upright
// (scaled to the screen's width, the text still legible).
const (
	Width  = 1200
	Height = 800
	dpi    = 96
)

// ErrNoSamples is returned when there is nothing to draw: the caller
// says so in words instead of sending an empty picture.
var ErrNoSamples = provision.ErrNoSamples

// The series' colours; the tests look for them in the picture.
var (
	MemoryColor   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	CPUColor      = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	ResponseColor = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff} // purple
	DiskColor     = color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff} // brown
	// MarkerColors are the markers' colours by kind.
	MarkerColors = map[provision.MarkerKind]color.RGBA{
		provision.MarkRestart: {R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
		provision.MarkDeploy:  {R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, // cyan
		provision.MarkBackup:  {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	}
	// stackColors fill the instances' areas on the capacity graph, in
	// turn.
	stackColors = []color.RGBA{
		{R: 0xae, G: 0xc7, B: 0xe8, A: 0xff}, {R: 0xff, G: 0xbb, B: 0x78, A: 0xff},
		{R: 0x98, G: 0xdf, B: 0x8a, A: 0xff}, {R: 0xff, G: 0x98, B: 0x96, A: 0xff},
		{R: 0xc5, G: 0xb0, B: 0xd5, A: 0xff}, {R: 0xc4, G: 0x9c, B: 0x94, A: 0xff},
		{R: 0xf7, G: 0xb6, B: 0xd2, A: 0xff}, {R: 0xdb, G: 0xdb, B: 0x8d, A: 0xff},
	}
)

// Status is what an instance's graph shows.
type Status struct {
	Instance string
	From, To time.Time          // the time axis (the last 24 hours, or since the first sample)
	Samples  []provision.Sample // oldest first
	Markers  []provision.Marker
}

// StatusPNG draws s as a Width×Height PNG in three panels sharing the
// time axis: memory (MiB), CPU (% of one core, from the counter's rate
// between two samples; a restart's reset draws nothing) and response
// time (ms). A missing figure leaves a gap; a panel without any says
// "no figure recorded" in its title. Each marker is a vertical
// line across the panels, coloured by kind (MarkerColors) and named in
// the legend. It returns ErrNoSamples when s has no sample.
func StatusPNG(s Status) ([]byte, error) {
	if len(s.Samples) == 0 {
		return nil, ErrNoSamples
	}
	var mem, cpu, resp []point
	for i, smp := range s.Samples {
		x := float64(smp.At.Unix())
		if smp.MemoryBytes != nil {
			mem = append(mem, point{x, float64(*smp.MemoryBytes) / (1 << 20)})
		} else {
			mem = append(mem, point{x, math.NaN()})
		}
		if smp.Response != nil {
			resp = append(resp, point{x, float64(*smp.Response) / float64(time.Millisecond)})
		} else {
			resp = append(resp, point{x, math.NaN()})
		}
		y := math.NaN()
		if i > 0 {
			prev := s.Samples[i-1]
			dt := smp.At.Sub(prev.At)
			if prev.CPUNanos != nil && smp.CPUNanos != nil && *smp.CPUNanos >= *prev.CPUNanos && dt > 0 {
				y = float64(*smp.CPUNanos-*prev.CPUNanos) / float64(dt) * 100
			}
		}
		cpu = append(cpu, point{x, y})
	}
	from, to := float64(s.From.Unix()), float64(s.To.Unix())
	panels := []struct {
		title, unit string
		pts         []point
		c           color.RGBA
	}{
		{"memory", "MiB", mem, MemoryColor},
		{"CPU", "% of a core", cpu, CPUColor},
		{"response time through nginx", "ms", resp, ResponseColor},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := newPlot(from, to, "15:04")
		p.Title.Text = pn.title
		if i == 0 {
			p.Title.Text = fmt.Sprintf("%s — %s, %s", s.Instance, pn.title, span(s.From, s.To, 23*time.Hour, "last 24 hours"))
		}
		p.Y.Label.Text = pn.unit
		lines, err := segments(pn.pts, pn.c)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			p.Add(l)
		}
		if len(lines) == 0 {
			p.Title.Text += " (no figure recorded)"
		}
		ymax := maxY(pn.pts)
		p.Y.Min, p.Y.Max = 0, ymax*1.1
		if err := addMarkers(p, s.Markers, from, to, i == 0); err != nil {
			return nil, err
		}
		plots[i] = []*plot.Plot{p}
	}
	return render(plots)
}

// Capacity is what the host's graph shows.
type Capacity struct {
	From, To time.Time
	Host     []provision.HostSample  // oldest first
	Memory   []provision.MemoryPoint // each instance's memory, by bucket
}

// CapacityPNG draws c as a Width×Height PNG in two panels sharing the
// time axis: the host's memory (GiB: used and total as lines, each
// instance's memory stacked as areas under them) and its disk under
// PROD_ROOT (used and total). It returns ErrNoSamples when c has no
// host sample.
func CapacityPNG(c Capacity) ([]byte, error) {
	if len(c.Host) == 0 {
		return nil, ErrNoSamples
	}
	const gib = 1 << 30
	from, to := float64(c.From.Unix()), float64(c.To.Unix())
	var used, total, dused, dtotal []point
	for _, h := range c.Host {
		x := float64(h.At.Unix())
		used = append(used, point{x, float64(h.MemUsed) / gib})
		total = append(total, point{x, float64(h.MemTotal) / gib})
		dused = append(dused, point{x, float64(h.DiskTotal-min(h.DiskFree, h.DiskTotal)) / gib})
		dtotal = append(dtotal, point{x, float64(h.DiskTotal) / gib})
	}
	format := "Jan 2"
	if c.To.Sub(c.From) < 48*time.Hour {
		format = "15:04"
	}
	mp := newPlot(from, to, format)
	mp.Title.Text = "host memory, " + span(c.From, c.To, 6*24*time.Hour, "last 7 days") + ": instances stacked"
	mp.Y.Label.Text = "GiB"
	if err := addStack(mp, c.Memory, gib); err != nil {
		return nil, err
	}
	if err := addLines(mp, used, MemoryColor, "used", nil); err != nil {
		return nil, err
	}
	if err := addLines(mp, total, color.RGBA{A: 0xff}, "total", []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
		return nil, err
	}
	mp.Y.Min, mp.Y.Max = 0, maxY(total)*1.05
	dp := newPlot(from, to, format)
	dp.Title.Text = "disk under PROD_ROOT"
	dp.Y.Label.Text = "GiB"
	if err := addLines(dp, dused, DiskColor, "used", nil); err != nil {
		return nil, err
	}
	if err := addLines(dp, dtotal, color.RGBA{A: 0xff}, "total", []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
		return nil, err
	}
	dp.Y.Min, dp.Y.Max = 0, maxY(dtotal)*1.05
	return render([][]*plot.Plot{{mp}, {dp}})
}

type point struct{ x, y float64 }

// timeTicks marks the time axis (Unix seconds) at round times in UTC:
// the shortest step of tickSteps giving at most 8 labels, aligned on it
// (every 3 hours at 00:00, 03:00…), with a minor tick halfway.
type timeTicks struct{ format string }

var tickSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Ticks returns the ticks between min and max.
func (tt timeTicks) Ticks(min, max float64) []plot.Tick {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if (max-min)/s.Seconds() <= 8 {
			step = s
			break
		}
	}
	half := step.Seconds() / 2
	var ticks []plot.Tick
	for x := math.Floor(min/half) * half; x <= max; x += half {
		if x < min {
			continue
		}
		label := ""
		if math.Mod(x, step.Seconds()) == 0 {
			format := tt.format
			if step < time.Hour && format == "15:04" || step < 24*time.Hour && format == "Jan 2" {
				format = "15:04"
				if max-min > 48*3600 {
					format = "Jan 2 15:04"
				}
			}
			label = time.Unix(int64(x), 0).UTC().Format(format)
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: label})
	}
	return ticks
}

// span names the time axis: whole when it is at least full long, else
// its ends.
func span(from, to time.Time, full time.Duration, whole string) string {
	if to.Sub(from) >= full {
		return whole + " (UTC)"
	}
	return from.UTC().Format("Jan 2 15:04") + " to " + to.UTC().Format("15:04") + " UTC"
}

func newPlot(from, to float64, format string) *plot.Plot {
	p := plot.New()
	p.X.Min, p.X.Max = from, to
	p.X.Tick.Marker = timeTicks{format: format}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Title.TextStyle.Font.Size = vg.Points(12)
	return p
}

// segments are pts as lines, broken where a figure is missing or where
// no sample was taken for more than three times the usual step.
func segments(pts []point, c color.RGBA) ([]*plotter.Line, error) {
	gap := 3 * medianStep(pts)
	var out []*plotter.Line
	var cur plotter.XYs
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		if len(cur) == 1 { // a lone point still shows
			cur = append(cur, plotter.XY{X: cur[0].X + 1, Y: cur[0].Y})
		}
		l, err := plotter.NewLine(cur)
		if err != nil {
			return fmt.Errorf("graph: line: %w", err)
		}
		l.Color, l.Width = c, vg.Points(1.5)
		out = append(out, l)
		cur = nil
		return nil
	}
	for i, p := range pts {
		if math.IsNaN(p.y) || i > 0 && gap > 0 && p.x-pts[i-1].x > gap {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if !math.IsNaN(p.y) {
			cur = append(cur, plotter.XY{X: p.x, Y: p.y})
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func addLines(p *plot.Plot, pts []point, c color.RGBA, name string, dashes []vg.Length) error {
	lines, err := segments(pts, c)
	if err != nil {
		return err
	}
	for i, l := range lines {
		l.Dashes = dashes
		p.Add(l)
		if i == 0 {
			p.Legend.Add(name, l)
		}
	}
	return nil
}

func medianStep(pts []point) float64 {
	if len(pts) < 2 {
		return 0
	}
	d := make([]float64, 0, len(pts)-1)
	for i := 1; i < len(pts); i++ {
		d = append(d, pts[i].x-pts[i-1].x)
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// maxY is the largest figure, 1 when there is none above 0 (an empty
// panel still has an axis).
func maxY(pts []point) float64 {
	m := 0.0
	for _, p := range pts {
		if !math.IsNaN(p.y) && p.y > m {
			m = p.y
		}
	}
	if m == 0 {
		return 1
	}
	return m
}

// addMarkers draws each marker within [from, to] as a vertical line
// over the panel's height (set before), named in the legend when legend.
func addMarkers(p *plot.Plot, ms []provision.Marker, from, to float64, legend bool) error {
	named := map[provision.MarkerKind]bool{}
	for _, m := range ms {
		x := float64(m.At.Unix())
		if x < from || x > to {
			continue
		}
		c, ok := MarkerColors[m.Kind]
		if !ok {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("graph: marker: %w", err)
		}
		l.Color, l.Width = c, vg.Points(2)
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
		if legend && !named[m.Kind] {
			p.Legend.Add(string(m.Kind), l)
			named[m.Kind] = true
		}
	}
	return nil
}

// addStack draws each instance's memory as an area stacked on the
// previous ones', on the buckets' common time grid (an instance without
// a figure in a bucket adds nothing there). The largest instances go
// at the bottom; past len(stackColors) the colours repeat.
func addStack(p *plot.Plot, pts []provision.MemoryPoint, unit float64) error {
	if len(pts) == 0 {
		return nil
	}
	var times []float64
	seen := map[float64]bool{}
	by := map[string]map[float64]float64{}
	peak := map[string]float64{}
	for _, mp := range pts {
		x := float64(mp.At.Unix())
		if !seen[x] {
			seen[x] = true
			times = append(times, x)
		}
		if by[mp.Instance] == nil {
			by[mp.Instance] = map[float64]float64{}
		}
		y := float64(mp.MemoryBytes) / unit
		by[mp.Instance][x] = y
		peak[mp.Instance] = max(peak[mp.Instance], y)
	}
	sort.Float64s(times)
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if peak[names[i]] != peak[names[j]] {
			return peak[names[i]] > peak[names[j]]
		}
		return names[i] < names[j]
	})
	base := make([]float64, len(times))
	for k, n := range names {
		top := make([]float64, len(times))
		for i, x := range times {
			top[i] = base[i] + by[n][x]
		}
		ring := make(plotter.XYs, 0, 2*len(times))
		for i, x := range times {
			ring = append(ring, plotter.XY{X: x, Y: top[i]})
		}
		for i := len(times) - 1; i >= 0; i-- {
			ring = append(ring, plotter.XY{X: times[i], Y: base[i]})
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return fmt.Errorf("graph: area of %s: %w", n, err)
		}
		poly.Color = stackColors[k%len(stackColors)]
		poly.LineStyle.Width = 0
		p.Add(poly)
		p.Legend.Add(n, poly)
		base = top
	}
	return nil
}

// render draws the panels one under the other on a Width×Height canvas
// and encodes it as PNG.
func render(plots [][]*plot.Plot) (_ []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // plot panics on impossible ranges
			err = fmt.Errorf("graph: draw: %v", r)
		}
	}()
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 3,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, c.Image()); err != nil {
		return nil, fmt.Errorf("graph: encode: %w", err)
	}
	return buf.Bytes(), nil
}
