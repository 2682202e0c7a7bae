package experiment

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/crucible-net/crucible/api"
)

// Chart colours: the network's winner, the other miners, the base, the
// reference and the single runs.
var (
	colWinner    = color.RGBA{R: 0xd9, G: 0x48, B: 0x1c, A: 0xff}
	colMiners    = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	colBase      = color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}
	colReference = color.RGBA{R: 0x1f, G: 0x6f, B: 0xb4, A: 0xff}
	colRuns      = color.RGBA{R: 0x7a, G: 0x9c, B: 0xc6, A: 0xff}
)

const chartW, chartH = 7 * vg.Inch, 4.2 * vg.Inch

// seriesChart draws a series: the winner's test loss per round, every
// miner's as dots, the base's and the reference's as lines across.
func seriesChart(res *api.ExperimentResults) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Winner's test loss per competition (%s, %s)", res.Model, res.Dataset)
	p.X.Label.Text = "competition"
	p.Y.Label.Text = "test loss on the hidden split (lower is better)"
	// The legend sits low on the right, under the base's line and above
	// the axis, where a falling series leaves room.
	p.Legend.Top, p.Legend.Padding = false, vg.Points(4)
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	var win, all plotter.XYs
	var ticks []plot.Tick
	for _, r := range res.Rounds {
		x := float64(r.Round)
		ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprint(r.Round)})
		if r.WinnerLoss != nil {
			win = append(win, plotter.XY{X: x, Y: *r.WinnerLoss})
		}
		for _, m := range r.Miners {
			if m.Loss != nil {
				all = append(all, plotter.XY{X: x, Y: *m.Loss})
			}
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	n := float64(max(len(res.Rounds), 1))
	p.X.Min, p.X.Max = 0.7, n+0.3
	across := func(y float64, c color.Color, dashed bool, label string) error {
		l, err := plotter.NewLine(plotter.XYs{{X: 0.7, Y: y}, {X: n + 0.3, Y: y}})
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		p.Add(l)
		p.Legend.Add(label, l)
		return nil
	}
	if res.BaseLoss != nil {
		if err := across(*res.BaseLoss, colBase, true, fmt.Sprintf("base model %.3f", *res.BaseLoss)); err != nil {
			return nil, err
		}
	}
	if res.Reference != nil && res.Reference.Loss != nil {
		if err := across(*res.Reference.Loss, colReference, true, fmt.Sprintf("reference (%s) %.3f", res.Reference.Data, *res.Reference.Loss)); err != nil {
			return nil, err
		}
	}
	if len(all) > 0 {
		s, err := plotter.NewScatter(all)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = colMiners, draw.CircleGlyph{}, vg.Points(2.5)
		p.Add(s)
		p.Legend.Add("every miner", s)
	}
	if len(win) > 0 {
		l, pts, err := plotter.NewLinePoints(win)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = colWinner, vg.Points(2.5)
		pts.Color, pts.Shape, pts.Radius = colWinner, draw.CircleGlyph{}, vg.Points(4)
		p.Add(l, pts)
		p.Legend.Add("winner", l, pts)
	}
	p.Y.Min = 0
	if res.BaseLoss != nil {
		p.Y.Max = math.Max(p.Y.Max, *res.BaseLoss*1.08)
	}
	return p, nil
}

// bar is one bar of the platform chart.
type bar struct {
	label string
	loss  float64
	col   color.Color
}

// platformsChart draws the comparison: test loss per contender, the
// network's winner first among them, sorted.
func platformsChart(res *api.ExperimentResults) (*plot.Plot, error) {
	var bars []bar
	last := res.Rounds[len(res.Rounds)-1]
	if last.WinnerLoss != nil {
		bars = append(bars, bar{"network\n" + last.Winner, *last.WinnerLoss, colWinner})
	}
	for _, r := range res.Runs {
		if r.Loss != nil {
			bars = append(bars, bar{barLabel(r), *r.Loss, colRuns})
		}
	}
	sort.SliceStable(bars, func(a, b int) bool { return bars[a].loss < bars[b].loss })
	if res.BaseLoss != nil {
		bars = append(bars, bar{"base\nmodel", *res.BaseLoss, colBase})
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Test loss on the hidden split, one miner's compute each (%s, %s)", res.Model, res.Dataset)
	p.Y.Label.Text = "test loss (lower is better)"
	w := vg.Points(28)
	names := make([]string, len(bars))
	for i, b := range bars {
		vals := make(plotter.Values, len(bars))
		vals[i] = b.loss
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bc.Color, bc.LineStyle.Width = b.col, 0
		p.Add(bc)
		names[i] = b.label
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: []plotter.XY{{X: float64(i), Y: b.loss}}, Labels: []string{fmt.Sprintf("%.3f", b.loss)}})
		if err != nil {
			return nil, err
		}
		for j := range l.TextStyle {
			l.TextStyle[j].XAlign, l.TextStyle[j].YAlign = draw.XCenter, draw.YBottom
		}
		p.Add(l)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Min = 0
	return p, nil
}

// barLabel is a single run's label under its bar: short enough for nine
// bars side by side (report.md and results.json carry the full titles).
func barLabel(r api.ExperimentRun) string {
	short := map[string]string{"together": "Together AI", "vertex": "Vertex AI", "openai": "OpenAI", "autotrain": "AutoTrain", "axolotl": "Axolotl"}
	if l, ok := short[r.Name]; ok {
		return l + "\ndefaults"
	}
	if n, ok := strings.CutPrefix(r.Name, "auto-"); ok {
		return "crucible\nauto #" + n
	}
	return r.Name
}

// drawCharts writes the experiment's chart as SVG and PNG into dir and
// returns the file names.
func drawCharts(res *api.ExperimentResults, dir string) ([]string, error) {
	var p *plot.Plot
	var err error
	name := res.Kind
	switch {
	case res.Kind == api.ExperimentSeries && len(res.Rounds) > 0:
		p, err = seriesChart(res)
	case res.Kind == api.ExperimentPlatforms && len(res.Rounds) > 0:
		p, err = platformsChart(res)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ext := range []string{"svg", "png"} {
		f := name + "." + ext
		if err := p.Save(chartW, chartH, filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("chart %s: %w", f, err)
		}
		out = append(out, f)
	}
	return out, nil
}
