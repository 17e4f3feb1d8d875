// Command plot draws the benchmark's Ready-over-time timelines as a PNG
// line chart, so that hack/bench.sh can show in BENCHMARKS.md how Networks
// became Ready over a run, not only the medians.
//
//	cd hack/plot && go run . -o ../../docs/bench-burst.png \
//	    -title "Burst: 2000 Networks, 10k others Ready" \
//	    "created while running=live.dat" "existing before start=existing.dat"
//
// Each LABEL=FILE argument is one series; the label is everything before
// the last "=", so a label may itself contain one. A FILE is what
// test/bench writes with -timeline-dir: lines "SECONDS COUNT" (time since
// the controller started, Networks Ready so far) in time order, and comment
// lines "# NAME SECONDS" marking an event, drawn as a dashed vertical line.
//
// It is a module of its own, so that golang.org/x/image stays out of the
// controller's go.mod. It uses only the standard library and that module's
// fixed-size bitmap font, so that it needs no fonts or tools on the machine, and the
// same input always gives the same bytes: the image can be committed and
// only changes when the data does. On any error it writes nothing.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// errFlags is a command line the flag package refused and has already
// explained.
var errFlags = errors.New("bad flags")

// run is the command without the process around it, so that tests can
// call it: it returns the exit status, 1 for bad input and 2 for flags it
// does not know, and reports errors on stderr.
func run(args []string, stderr io.Writer) int {
	err := plot(args, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	default:
		fmt.Fprintf(stderr, "plot: %v\n", err)
		return 1
	}
}

func plot(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the PNG to this `file`")
	title := fs.String("title", "Ready Networks over time", "the chart's title")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: plot -o OUT.png [-title TITLE] LABEL=FILE [LABEL=FILE ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return err
	} else if err != nil {
		return errFlags
	}
	if *out == "" {
		return errors.New("-o OUT.png is required")
	}
	if fs.NArg() == 0 {
		return errors.New("no series: give at least one LABEL=FILE")
	}
	all := make([]series, 0, fs.NArg())
	for _, arg := range fs.Args() {
		s, err := readArg(arg)
		if err != nil {
			return err
		}
		all = append(all, s)
	}
	return writePNG(*out, render(*title, all))
}

// point is one line of a timeline: x seconds after the controller
// started, y Networks were Ready.
type point struct{ x, y float64 }

// mark is an event during a run, such as the API server being stopped.
type mark struct {
	name string
	at   float64
}

// series is one timeline file under the label it is drawn with.
type series struct {
	label  string
	points []point
	marks  []mark
}

// readArg reads the series a LABEL=FILE argument names.
func readArg(arg string) (series, error) {
	i := strings.LastIndex(arg, "=")
	if i <= 0 || i == len(arg)-1 {
		return series{}, fmt.Errorf("%q: want LABEL=FILE", arg)
	}
	label, path := arg[:i], arg[i+1:]
	f, err := os.Open(path)
	if err != nil {
		return series{}, err
	}
	defer f.Close()
	s, err := parse(path, f)
	s.label = label
	return s, err
}

// parse reads a timeline; name is what errors call it. It refuses what it
// cannot draw faithfully (lines out of time order, negative or non-finite
// numbers) rather than draw a chart that misleads.
func parse(name string, r io.Reader) (series, error) {
	var s series
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		var err error
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			err = s.addMark(line)
		default:
			err = s.addPoint(line)
		}
		if err != nil {
			return s, fmt.Errorf("%s:%d: %v", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("%s: %v", name, err)
	}
	if len(s.points) == 0 {
		return s, fmt.Errorf("%s: no \"SECONDS COUNT\" lines", name)
	}
	return s, nil
}

// addMark adds the mark a "# NAME SECONDS" line gives.
func (s *series) addMark(line string) error {
	f := strings.Fields(strings.TrimPrefix(line, "#"))
	if len(f) != 2 {
		return fmt.Errorf("want \"# NAME SECONDS\", got %q", line)
	}
	at, err := number(f[1])
	if err != nil {
		return fmt.Errorf("mark %s: %v", f[0], err)
	}
	s.marks = append(s.marks, mark{f[0], at})
	return nil
}

// addPoint adds the point a "SECONDS COUNT" line gives.
func (s *series) addPoint(line string) error {
	f := strings.Fields(line)
	if len(f) != 2 {
		return fmt.Errorf("want \"SECONDS COUNT\", got %q", line)
	}
	x, err := number(f[0])
	if err != nil {
		return fmt.Errorf("seconds: %v", err)
	}
	y, err := number(f[1])
	if err != nil {
		return fmt.Errorf("count: %v", err)
	}
	if n := len(s.points); n > 0 && x < s.points[n-1].x {
		return fmt.Errorf("time %s is before the previous line's %g", f[0], s.points[n-1].x)
	}
	s.points = append(s.points, point{x, y})
	return nil
}

// number parses a finite, non-negative number: times and counts in a
// timeline are never anything else.
func number(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a number", s)
	case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
		return 0, fmt.Errorf("%q is not a finite number >= 0", s)
	}
	return v, nil
}

// writePNG encodes img into path through a temporary file in the same
// directory, so that a failed run never leaves a partial image where
// BENCHMARKS.md links one.
func writePNG(path string, img image.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = png.Encode(tmp, img); err != nil {
		return err
	}
	// CreateTemp's 0600 would make a committed image private to its writer.
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// width and height are the image's size: a readable chart at the width
// a Markdown page is shown at.
const width, height = 800, 450

// The chart's colours. The series colours are far apart in hue and dark
// enough to read on white.
var (
	white     = color.RGBA{0xff, 0xff, 0xff, 0xff}
	black     = color.RGBA{0x00, 0x00, 0x00, 0xff}
	gridGrey  = color.RGBA{0xe6, 0xe6, 0xe6, 0xff}
	markGrey  = color.RGBA{0x60, 0x60, 0x60, 0xff}
	lineColor = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, // blue
		{0xff, 0x7f, 0x0e, 0xff}, // orange
		{0x2c, 0xa0, 0x2c, 0xff}, // green
		{0xd6, 0x27, 0x28, 0xff}, // red
		{0x94, 0x67, 0xbd, 0xff}, // purple
		{0x8c, 0x56, 0x4b, 0xff}, // brown
		{0xe3, 0x77, 0xc2, 0xff}, // pink
		{0x17, 0xbe, 0xcf, 0xff}, // cyan
	}
)

// seriesColor is the colour of the i-th series; they repeat only past
// eight series, more than a readable chart has.
func seriesColor(i int) color.RGBA { return lineColor[i%len(lineColor)] }

// face is the bitmap font all text uses: fixed-size glyphs need no font
// files and render the same everywhere.
var face = basicfont.Face7x13

// axis is one axis's scale: from 0 to max in ticks of step.
type axis struct{ max, step float64 }

// niceAxis returns a scale from 0 that holds hi with about n ticks at a
// round step (1, 2, 2.5 or 5 times a power of ten), so that the tick labels
// are numbers a reader can interpolate between. A step is never below
// minStep, which keeps counts from being labelled in fractions.
func niceAxis(hi float64, n int, minStep float64) axis {
	if hi <= 0 {
		hi = minStep
		if hi <= 0 {
			hi = 1
		}
	}
	step := niceStep(hi / float64(n))
	if step < minStep {
		step = minStep
	}
	return axis{math.Ceil(hi/step-1e-9) * step, step}
}

// niceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// ticks returns the values at which a has ticks, 0 and max included.
func (a axis) ticks() []float64 {
	n := int(math.Round(a.max / a.step))
	t := make([]float64, n+1)
	for i := range t {
		t[i] = float64(i) * a.step
	}
	return t
}

// label formats a tick value with as few decimals as it needs, so that
// 2.5 reads "2.5", 5 reads "5" and 3×0.1 reads "0.3", never more than the
// step has, which hides floating-point noise.
func (a axis) label(v float64) string {
	return strconv.FormatFloat(v, 'f', min(decimals(v), decimals(a.step)), 64)
}

// decimals is how many decimals v has, up to 6.
func decimals(v float64) int {
	d := 0
	for ; d < 6; d++ {
		scaled := v * math.Pow(10, float64(d))
		if math.Abs(scaled-math.Round(scaled)) < 1e-6 {
			break
		}
	}
	return d
}

// chart is an image being drawn and where its plot area and scales are.
type chart struct {
	img     *image.RGBA
	plot    image.Rectangle // the data area, inside the axes
	x, y    axis
	bandTop int   // the top of the mark labels' rows, above the plot
	tags    []tag // the marks, laid out
}

// render draws the chart. The order of the layers is what keeps each
// readable: grid under marks under lines under axes and text.
func render(title string, all []series) *image.RGBA {
	c := newChart(title, all)
	c.grid()
	c.marks()
	for i, s := range all {
		c.line(s.points, seriesColor(i))
	}
	c.axes()
	return c.img
}

// newChart lays the chart out: the scales from the data, then the plot
// area from what the title, legend and tick labels around it take.
func newChart(title string, all []series) *chart {
	var hiX, hiY float64
	for _, s := range all {
		for _, p := range s.points {
			hiX, hiY = max(hiX, p.x), max(hiY, p.y)
		}
		for _, m := range s.marks {
			hiX = max(hiX, m.at)
		}
	}
	c := &chart{img: image.NewRGBA(image.Rect(0, 0, width, height))}
	c.x, c.y = niceAxis(hiX, 8, 0), niceAxis(hiY, 5, 1)
	draw.Draw(c.img, c.img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	text(c.img, max(4, (width-textWidth(title))/2), 20, title, black)
	left := 8 + 13 + 8 + c.widestYLabel() + 4 + 5
	right := width - 25
	c.bandTop = c.legend(all, left, right, 32) + 4
	// The tags' x positions need only the plot's left and right, and
	// their rows decide where the plot's top is.
	c.plot = image.Rect(left, 0, right, height-45)
	var rows int
	c.tags, rows = c.placeTags(allMarks(all))
	c.plot.Min.Y = c.bandTop + tagRow*rows + 6
	return c
}

// widestYLabel is the width of the widest y tick label, which decides
// how far in from the left the plot area starts.
func (c *chart) widestYLabel() int {
	w := 0
	for _, v := range c.y.ticks() {
		w = max(w, textWidth(c.y.label(v)))
	}
	return w
}

// legend draws one entry per series in rows from top, between left and
// right, above the plot rather than in it so that it never hides data,
// and returns where it ends.
func (c *chart) legend(all []series, left, right, top int) int {
	x, y := left, top
	for i, s := range all {
		w := 24 + 6 + textWidth(s.label)
		if x > left && x+w > right {
			x, y = left, y+16
		}
		col := seriesColor(i)
		fill(c.img, image.Rect(x, y+6, x+24, y+9), col)
		text(c.img, x+30, y+11, s.label, black)
		x += w + 20
	}
	return y + 16
}

// pos is where data point p falls in the image.
func (c *chart) pos(p point) (float64, float64) {
	r := c.plot
	px := float64(r.Min.X) + p.x/c.x.max*float64(r.Dx()-1)
	py := float64(r.Max.Y-1) - p.y/c.y.max*float64(r.Dy()-1)
	return px, py
}

// grid draws light lines at the ticks, to read values off the middle of
// the chart.
func (c *chart) grid() {
	for _, v := range c.x.ticks()[1:] {
		x, _ := c.pos(point{v, 0})
		xi := int(math.Round(x))
		fill(c.img, image.Rect(xi, c.plot.Min.Y, xi+1, c.plot.Max.Y), gridGrey)
	}
	for _, v := range c.y.ticks()[1:] {
		_, y := c.pos(point{0, v})
		yi := int(math.Round(y))
		fill(c.img, image.Rect(c.plot.Min.X, yi, c.plot.Max.X, yi+1), gridGrey)
	}
}

// line draws the series through points, clipped to the plot area.
func (c *chart) line(points []point, col color.RGBA) {
	plot := c.img.SubImage(c.plot).(*image.RGBA)
	for i := 1; i < len(points); i++ {
		x0, y0 := c.pos(points[i-1])
		x1, y1 := c.pos(points[i])
		segment(plot, x0, y0, x1, y1, col)
	}
	if len(points) == 1 {
		x, y := c.pos(points[0])
		segment(plot, x, y, x, y, col)
	}
}

// segment draws a line about two pixels wide from (x0,y0) to (x1,y1) by
// stamping a small cross at every pixel step along it: no anti-aliasing,
// so the result is exact and the same everywhere.
func segment(img *image.RGBA, x0, y0, x1, y1 float64, col color.RGBA) {
	n := int(math.Ceil(max(math.Abs(x1-x0), math.Abs(y1-y0))))
	for i := 0; i <= n; i++ {
		t := 0.0
		if n > 0 {
			t = float64(i) / float64(n)
		}
		x := int(math.Round(x0 + t*(x1-x0)))
		y := int(math.Round(y0 + t*(y1-y0)))
		for _, d := range [...]image.Point{{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
			img.SetRGBA(x+d.X, y+d.Y, col) // SetRGBA ignores points outside img
		}
	}
}

// allMarks is the marks of all series, each once, in time order: the
// benchmark writes them in no particular order, and series of the same
// run share them.
func allMarks(all []series) []mark {
	var ms []mark
	for _, s := range all {
		for _, m := range s.marks {
			if !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
	}
	slices.SortFunc(ms, func(a, b mark) int {
		if a.at != b.at {
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return ms
}

// markLabel is how a mark is named on the chart: the benchmark's short
// names spelled out, any other name as it is.
func markLabel(name string) string {
	switch name {
	case "down":
		return "API server stopped"
	case "back":
		return "API server back"
	}
	return name
}

// tag is a mark laid out: its line's x, and its label's x and row in
// the band above the plot.
type tag struct {
	x, lx, row int
	label      string
}

// placeTags lays the marks' labels out in rows above the plot, row 0 at
// the top, each label beside its line, which rises from the plot to the
// label's row. A mark takes the first row, or failing that the first new
// row, where its label overlaps no other and no line crosses a label, so
// that marks close in time stay legible.
func (c *chart) placeTags(ms []mark) (tags []tag, rows int) {
	for _, m := range ms {
		x, _ := c.pos(point{m.at, 0})
		t := tag{x: int(math.Round(x)), label: markLabel(m.name)}
		t.lx = t.x + 4
		if w := textWidth(t.label); t.lx+w > width-4 {
			t.lx = t.x - 4 - w // no room on the right
		}
		var insert bool
		t.row, insert = place(tags, rows, t)
		if insert {
			for i := range tags {
				if tags[i].row >= t.row {
					tags[i].row++
				}
			}
			rows++
		}
		tags = append(tags, t)
	}
	return tags, rows
}

// place returns the row for t among tags in rows rows, and whether it is
// a new row inserted there. If no row keeps the labels clear, t gets a
// new bottom row, where at least its own line crosses nothing.
func place(tags []tag, rows int, t tag) (row int, insert bool) {
	for r := range rows {
		if clear(tags, t, r, false) {
			return r, false
		}
	}
	for r := rows; r >= 0; r-- {
		if clear(tags, t, r, true) {
			return r, true
		}
	}
	return rows, true
}

// clear reports whether t's label can go in row r (a new row inserted
// there if insert) with no overlap: the same row's labels apart, no line of
// a tag above through t's label, and t's line through no label below.
func clear(tags []tag, t tag, r int, insert bool) bool {
	for _, e := range tags {
		er := e.row
		if insert && er >= r {
			er++
		}
		switch {
		case er == r && e.lx < t.end()+6 && t.lx < e.end()+6:
			return false
		case er < r && t.lx-2 <= e.x && e.x <= t.end()+2:
			return false
		case er > r && e.lx-2 <= t.x && t.x <= e.end()+2:
			return false
		}
	}
	return true
}

// end is where t's label ends.
func (t tag) end() int { return t.lx + textWidth(t.label) }

// tagRow is the height of a row of mark labels.
const tagRow = 15

// marks draws each mark as a dashed vertical line from the bottom of the
// plot up to its label.
func (c *chart) marks() {
	for _, f := range c.tags {
		base := c.bandTop + 11 + tagRow*f.row
		for y := c.plot.Max.Y - 1; y >= base-4; y-- {
			if (c.plot.Max.Y-1-y)%9 < 5 {
				c.img.SetRGBA(f.x, y, markGrey)
			}
		}
		text(c.img, f.lx, base, f.label, markGrey)
	}
}

// axes draws the axis lines, the ticks with their values and the axis
// titles.
func (c *chart) axes() {
	r := c.plot
	fill(c.img, image.Rect(r.Min.X-1, r.Min.Y, r.Min.X, r.Max.Y+1), black)
	fill(c.img, image.Rect(r.Min.X-1, r.Max.Y, r.Max.X, r.Max.Y+1), black)
	for _, v := range c.x.ticks() {
		x, _ := c.pos(point{v, 0})
		xi := int(math.Round(x))
		fill(c.img, image.Rect(xi, r.Max.Y+1, xi+1, r.Max.Y+6), black)
		s := c.x.label(v)
		text(c.img, xi-textWidth(s)/2, r.Max.Y+19, s, black)
	}
	for _, v := range c.y.ticks() {
		_, y := c.pos(point{0, v})
		yi := int(math.Round(y))
		fill(c.img, image.Rect(r.Min.X-6, yi, r.Min.X-1, yi+1), black)
		s := c.y.label(v)
		text(c.img, r.Min.X-10-textWidth(s), yi+4, s, black)
	}
	xTitle := "seconds since the controller started"
	text(c.img, r.Min.X+(r.Dx()-textWidth(xTitle))/2, height-10, xTitle, black)
	yTitle := "Networks Ready"
	textUp(c.img, 8, r.Min.Y+(r.Dy()+textWidth(yTitle))/2, yTitle, black)
}

// fill paints r in col.
func fill(img draw.Image, r image.Rectangle, col color.RGBA) {
	draw.Draw(img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// textWidth is how many pixels wide s is drawn.
func textWidth(s string) int { return font.MeasureString(face, s).Ceil() }

// text draws s with its baseline starting at (x, y).
func text(img draw.Image, x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// textUp draws s reading upwards with the top of its glyphs at x and its
// start at y, as a y axis title is: the bitmap font has no rotation, so it
// draws s flat and turns the pixels a quarter turn.
func textUp(img *image.RGBA, x, y int, s string, col color.RGBA) {
	w, h := textWidth(s), face.Metrics().Height.Ceil()
	flat := image.NewRGBA(image.Rect(0, 0, w, h))
	text(flat, 0, face.Metrics().Ascent.Ceil(), s, col)
	for fy := 0; fy < h; fy++ {
		for fx := 0; fx < w; fx++ {
			if p := flat.RGBAAt(fx, fy); p.A != 0 {
				img.SetRGBA(x+fy, y-fx, p)
			}
		}
	}
}
