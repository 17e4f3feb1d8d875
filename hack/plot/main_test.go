package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     series // when err is ""
		err      string // a part of the error
	}{{
		name: "marks before points, as the benchmark writes them",
		in:   "# back 16.466\n# down 3.000\n0 0\n2.260 1\n2.260 2\n",
		want: series{
			marks:  []mark{{"back", 16.466}, {"down", 3}},
			points: []point{{0, 0}, {2.26, 1}, {2.26, 2}},
		},
	}, {
		name: "blank lines and spaces are ignored, marks may come anywhere",
		in:   "  0 0 \n\n1\t5\n#  up  2.5\n",
		want: series{marks: []mark{{"up", 2.5}}, points: []point{{0, 0}, {1, 5}}},
	}, {
		name: "too few fields",
		in:   "0 0\n1\n",
		err:  `t.dat:2: want "SECONDS COUNT", got "1"`,
	}, {
		name: "too many fields",
		in:   "0 0\n1 2\n2 3 4\n",
		err:  `t.dat:3: want "SECONDS COUNT"`,
	}, {
		name: "seconds not a number",
		in:   "0 0\nx 1\n",
		err:  `t.dat:2: seconds: "x" is not a number`,
	}, {
		name: "count not a number",
		in:   "0 0\n1 many\n",
		err:  `t.dat:2: count: "many" is not a number`,
	}, {
		name: "negative count",
		in:   "0 0\n1 -1\n",
		err:  `t.dat:2: count: "-1" is not a finite number >= 0`,
	}, {
		name: "not finite",
		in:   "0 0\nInf 1\n",
		err:  `t.dat:2: seconds: "Inf" is not a finite number >= 0`,
	}, {
		name: "out of time order",
		in:   "0 0\n2 1\n1 2\n",
		err:  `t.dat:3: time 1 is before the previous line's 2`,
	}, {
		name: "mark without seconds",
		in:   "# down\n0 0\n",
		err:  `t.dat:1: want "# NAME SECONDS", got "# down"`,
	}, {
		name: "mark with words after the name",
		in:   "0 0\n# API server down 3\n",
		err:  `t.dat:2: want "# NAME SECONDS"`,
	}, {
		name: "mark seconds not a number",
		in:   "0 0\n# back soon\n",
		err:  `t.dat:2: mark back: "soon" is not a number`,
	}, {
		name: "empty",
		in:   "",
		err:  `t.dat: no "SECONDS COUNT" lines`,
	}, {
		name: "marks only",
		in:   "# down 3\n",
		err:  `t.dat: no "SECONDS COUNT" lines`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse("t.dat", strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadArg(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.dat")
	write(t, path, "0 0\n1 1\n")
	for _, tc := range []struct {
		arg, label, err string
	}{
		{arg: "live=" + path, label: "live"},
		{arg: "N=2000=" + path, label: "N=2000"}, // the last "=" splits
		{arg: path, err: "want LABEL=FILE"},
		{arg: "=" + path, err: "want LABEL=FILE"},
		{arg: "live=", err: "want LABEL=FILE"},
		{arg: "live=" + dir + "/missing.dat", err: dir + "/missing.dat"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			s, err := readArg(tc.arg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.label != tc.label || len(s.points) != 2 {
				t.Errorf("got label %q and %d points, want %q and 2", s.label, len(s.points), tc.label)
			}
		})
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hi      float64
		n       int
		minStep float64
		want    axis
	}{
		{"2000 Networks", 2000, 5, 1, axis{2000, 500}},
		{"2000 Networks, finer", 2000, 8, 1, axis{2000, 250}},
		{"one over a round number", 2001, 5, 1, axis{2500, 500}},
		{"1000 Networks", 1000, 5, 1, axis{1000, 200}},
		{"37.4 s", 37.4, 5, 0, axis{40, 10}},
		{"37.4 s, finer", 37.4, 8, 0, axis{40, 5}},
		{"a burst", 9.785, 8, 0, axis{10, 2}},
		{"an outage", 87.781, 8, 0, axis{100, 20}},
		{"steps of 2.5", 12, 5, 0, axis{12.5, 2.5}},
		{"under a second", 0.37, 5, 0, axis{0.4, 0.1}},
		{"few Networks are counted in whole ones", 3, 5, 1, axis{3, 1}},
		{"no Networks Ready", 0, 5, 1, axis{1, 1}},
		{"no time", 0, 8, 0, axis{1, 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := niceAxis(tc.hi, tc.n, tc.minStep)
			if !near(got.max, tc.want.max) || !near(got.step, tc.want.step) {
				t.Errorf("niceAxis(%g, %d, %g) = %+v, want %+v", tc.hi, tc.n, tc.minStep, got, tc.want)
			}
		})
	}
}

func TestTickLabels(t *testing.T) {
	for _, tc := range []struct {
		a    axis
		want string
	}{
		{axis{2000, 500}, "0 500 1000 1500 2000"},
		{axis{0.4, 0.1}, "0 0.1 0.2 0.3 0.4"},
		{axis{12.5, 2.5}, "0 2.5 5 7.5 10 12.5"},
		{axis{1, 0.25}, "0 0.25 0.5 0.75 1"},
	} {
		var got []string
		for _, v := range tc.a.ticks() {
			got = append(got, tc.a.label(v))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%+v: labels %q, want %q", tc.a, g, tc.want)
		}
	}
}

func TestMarkLabel(t *testing.T) {
	for name, want := range map[string]string{
		"down":    "API server stopped",
		"back":    "API server back",
		"restart": "restart",
	} {
		if got := markLabel(name); got != want {
			t.Errorf("markLabel(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestAllMarks: each mark once however many series of a run carry it, in
// time order whatever order the benchmark wrote them in.
func TestAllMarks(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [][]mark
		want []mark
	}{
		{"none", [][]mark{nil, nil}, nil},
		{"in time order", [][]mark{{{"back", 16.5}, {"down", 3}}}, []mark{{"down", 3}, {"back", 16.5}}},
		{"shared by two series", [][]mark{{{"down", 3}, {"back", 16.5}}, {{"back", 16.5}}}, []mark{{"down", 3}, {"back", 16.5}}},
		{"same name, other time", [][]mark{{{"down", 3}}, {{"down", 4}}}, []mark{{"down", 3}, {"down", 4}}},
		{"same time, by name", [][]mark{{{"b", 5}, {"a", 5}}}, []mark{{"a", 5}, {"b", 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all []series
			for _, ms := range tc.in {
				all = append(all, series{marks: ms})
			}
			if got := allMarks(all); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTags is the promise about mark labels: none overlaps another, none
// is crossed by another mark's line, and marks far apart share a row.
func TestTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   []float64
		rows int
	}{
		{"none", nil, 0},
		{"far apart", []float64{3, 60}, 1},
		{"an outage's, close", []float64{3, 16.5}, 2},
		{"three close", []float64{3, 16.5, 30}, 3},
		{"close, then far", []float64{3, 16.5, 60}, 2},
		{"at the right edge", []float64{99, 100}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := []series{{label: "s", points: []point{{0, 0}, {100, 10}}}}
			for _, at := range tc.at {
				all[0].marks = append(all[0].marks, mark{"down", at})
			}
			c := newChart("", all)
			if len(c.tags) != len(tc.at) {
				t.Fatalf("%d tags, want %d", len(c.tags), len(tc.at))
			}
			rows := 0
			for i, a := range c.tags {
				rows = max(rows, a.row+1)
				if a.lx < 0 || a.lx+textWidth(a.label) > width {
					t.Errorf("tag %d at %d..%d is off the image", i, a.lx, a.lx+textWidth(a.label))
				}
				for j, b := range c.tags {
					bEnd := b.lx + textWidth(b.label)
					if i != j && a.row == b.row && a.lx < bEnd && b.lx < a.lx+textWidth(a.label) {
						t.Errorf("tags %d and %d overlap in row %d", i, j, a.row)
					}
					if i != j && b.row > a.row && b.lx <= a.x && a.x < bEnd {
						t.Errorf("the line of tag %d crosses tag %d's label", i, j)
					}
				}
			}
			if rows != tc.rows {
				t.Errorf("%d rows, want %d", rows, tc.rows)
			}
		})
	}
}

// TestRender checks the drawing where it matters: each series in its own
// colour through its points, from corner to corner of the plot when the
// data fills the scales, and a mark's line where its time is.
func TestRender(t *testing.T) {
	all := []series{
		{label: "rising", points: []point{{0, 0}, {10, 100}}, marks: []mark{{"down", 5}}},
		{label: "flat", points: []point{{0, 20}, {10, 20}}},
	}
	img := render("test", all)
	c := newChart("test", all) // the same layout render used
	if got := img.Bounds().Size(); got != (image.Point{width, height}) {
		t.Fatalf("size %v, want %dx%d", got, width, height)
	}
	if c.x != (axis{10, 2}) || c.y != (axis{100, 20}) {
		t.Fatalf("scales %+v and %+v, want 0..10 and 0..100 for this data", c.x, c.y)
	}
	r := c.plot
	rising, flat := seriesColor(0), seriesColor(1)
	at := func(x, y float64) image.Point {
		px, py := c.pos(point{x, y})
		return image.Pt(int(math.Round(px)), int(math.Round(py)))
	}
	for _, tc := range []struct {
		name string
		p    image.Point
		col  color.RGBA
		want bool
	}{
		{"rising starts at the bottom left", image.Pt(r.Min.X, r.Max.Y-1), rising, true},
		{"rising ends at the top right", image.Pt(r.Max.X-1, r.Min.Y), rising, true},
		{"rising passes the middle", at(5, 50), rising, true},
		{"rising is not at the top left", image.Pt(r.Min.X+5, r.Min.Y+5), rising, false},
		{"rising is not at the bottom right", image.Pt(r.Max.X-5, r.Max.Y-5), rising, false},
		{"flat starts a fifth up the left", at(0, 20), flat, true},
		{"flat ends a fifth up the right", at(10, 20), flat, true},
		{"flat is not at the top right", image.Pt(r.Max.X-1, r.Min.Y), flat, false},
		{"flat is not in the middle", at(5, 50), flat, false},
		{"the mark's line is at 5 s", at(5, 80), markGrey, true},
		{"the mark's line is not at 2 s", at(2, 80), markGrey, false},
		{"the background is white", image.Pt(2, height-2), white, true},
	} {
		if got := colorNear(img, tc.p, tc.col, 2); got != tc.want {
			t.Errorf("%s: colour %v near %v is %v, want %v", tc.name, tc.col, tc.p, got, tc.want)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a := encode(t, render("t", []series{{label: "a", points: []point{{0, 0}, {1.5, 7}, {3, 9}}}}))
	b := encode(t, render("t", []series{{label: "a", points: []point{{0, 0}, {1.5, 7}, {3, 9}}}}))
	if !bytes.Equal(a, b) {
		t.Error("the same series gave different images")
	}

	// The benchmark writes marks in map order; the image must not depend
	// on it, nor on a mark both series of a run carry.
	dir := t.TempDir()
	write(t, filepath.Join(dir, "1.dat"), "# down 3\n# back 4\n0 0\n20 10\n")
	write(t, filepath.Join(dir, "2.dat"), "# back 4\n# down 3\n0 0\n20 10\n")
	write(t, filepath.Join(dir, "3.dat"), "# back 4\n0 0\n10 10\n")
	var out [][]byte
	for _, args := range [][]string{{"x=1.dat", "y=3.dat"}, {"x=2.dat", "y=3.dat"}, {"x=2.dat", "y=3.dat"}} {
		png := filepath.Join(dir, "out.png")
		for i := range args {
			args[i] = strings.Replace(args[i], "=", "="+dir+"/", 1)
		}
		var stderr bytes.Buffer
		if code := run(append([]string{"-o", png}, args...), &stderr); code != 0 {
			t.Fatalf("exit status %d: %s", code, stderr.String())
		}
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for i := 1; i < len(out); i++ {
		if !bytes.Equal(out[0], out[i]) {
			t.Errorf("run %d wrote a different image from run 0", i)
		}
	}
}

func TestRunWritesPNG(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "live.dat"), "0 0\n1 1\n2 2\n")
	out := filepath.Join(dir, "chart.png")
	var stderr bytes.Buffer
	if code := run([]string{"-o", out, "-title", "t", "live=" + dir + "/live.dat"}, &stderr); code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != (image.Point{width, height}) {
		t.Errorf("size %v, want %dx%d", got, width, height)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	onlyFiles(t, dir, "chart.png", "live.dat")
}

// TestRunRefuses is the promise about bad input: exit status 1, an error
// that says where, and no image, not even a partial one over an old one.
func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.dat"), filepath.Join(dir, "bad.dat")
	write(t, good, "0 0\n1 1\n")
	write(t, bad, "0 0\n1 1\n2 two\n")
	out := filepath.Join(dir, "out.png")
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"malformed line", []string{"-o", out, "good=" + good, "bad=" + bad}, bad + `:3: count: "two" is not a number`},
		{"unreadable file", []string{"-o", out, "gone=" + dir + "/gone.dat"}, dir + "/gone.dat"},
		{"no series", []string{"-o", out}, "no series"},
		{"no output", []string{"good=" + good}, "-o OUT.png is required"},
		{"not LABEL=FILE", []string{"-o", out, good}, "want LABEL=FILE"},
		{"output directory missing", []string{"-o", dir + "/no/out.png", "good=" + good}, dir + "/no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, out, "old image")
			var stderr bytes.Buffer
			if code := run(tc.args, &stderr); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.err)
			}
			if b, _ := os.ReadFile(out); string(b) != "old image" {
				t.Error("the old output was replaced")
			}
			onlyFiles(t, dir, "bad.dat", "good.dat", "out.png")
		})
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "usage: plot -o OUT.png"},
		{[]string{"-bogus"}, 2, "flag provided but not defined: -bogus\nusage:"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, &stderr); code != tc.code || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("run(%q) = %d, %q; want %d, %q...", tc.args, code, stderr.String(), tc.code, tc.want)
		}
		if strings.Count(stderr.String(), "usage:") != 1 {
			t.Errorf("run(%q) gave the usage other than once: %q", tc.args, stderr.String())
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }

// colorNear reports whether col is at a pixel within d of p.
func colorNear(img *image.RGBA, p image.Point, col color.RGBA, d int) bool {
	for y := p.Y - d; y <= p.Y+d; y++ {
		for x := p.X - d; x <= p.X+d; x++ {
			if image.Pt(x, y).In(img.Bounds()) && img.RGBAAt(x, y) == col {
				return true
			}
		}
	}
	return false
}

func encode(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// onlyFiles fails unless dir holds exactly names: no temporary file left.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
