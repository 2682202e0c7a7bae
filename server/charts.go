package server

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The dashboard's charts are inline SVG drawn here, so pages need no
// script and no chart library to show them.

// bar is one bar of a horizontal bar chart.
type bar struct {
	Label string
	Value float64
	Class string // CSS class: "base", "winner", "miner", "status"
	Note  string // text after the value
}

// palette colours the series of line charts.
var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"}

// Every chart is drawn twice: for a wide screen, and laid out for a
// phone (labels above the bars, one legend entry a line) in a narrower
// box; the stylesheet shows the one that fits, so that text scaled to a
// 390-pixel screen stays readable.
const (
	chartWidth = 640
	phoneWidth = 340
)

// barChart draws bars scaled to the largest value, each labelled and
// annotated with its value in format.
func barChart(title string, bars []bar, format string) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	return template.HTML(barSVG(title, bars, format, false) + barSVG(title, bars, format, true))
}

func barSVG(title string, bars []bar, format string, phone bool) string {
	maxV := 0.0
	for _, b := range bars {
		maxV = math.Max(maxV, b.Value)
	}
	if maxV <= 0 {
		maxV = 1
	}
	const pad = 8
	width, rowH, labelW, plotW, class := chartWidth, 26, 190, float64(chartWidth-190-120), "wide"
	if phone { // label and value on a line, the bar under them
		width, rowH, labelW, plotW, class = phoneWidth, 36, 0, phoneWidth, "phone"
	}
	h := len(bars)*rowH + 2*pad
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart %s" role="img" viewBox="0 0 %d %d" width="%d" height="%d"><title>%s</title>`,
		class, width, h, width, h, esc(title))
	for i, b := range bars {
		y := pad + i*rowH
		w := math.Max(1, b.Value/maxV*plotW)
		value := esc(fmt.Sprintf(format, b.Value)) + esc(b.Note)
		rect := func(x, y int) {
			fmt.Fprintf(&sb, `<rect class="bar %s" x="%d" y="%d" width="%.1f" height="%d" rx="3"><title>%s: %s</title></rect>`,
				esc(b.Class), x, y, w, rowH-8-10*btoi(phone), esc(b.Label), esc(fmt.Sprintf(format, b.Value)))
		}
		if phone {
			fmt.Fprintf(&sb, `<text class="label" x="0" y="%d">%s</text>`, y+10, esc(short(b.Label, 21)))
			fmt.Fprintf(&sb, `<text class="value" x="%d" y="%d" text-anchor="end">%s</text>`, width, y+10, value)
			rect(0, y+15)
			continue
		}
		fmt.Fprintf(&sb, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, labelW-8, y+17, esc(short(b.Label, 21)))
		rect(labelW, y+4)
		fmt.Fprintf(&sb, `<text class="value" x="%.1f" y="%d">%s</text>`, float64(labelW)+w+6, y+17, value)
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// series is one line of a line chart: points (x, y) in x order.
type series struct {
	Name   string
	Points [][2]float64
}

// lineChart draws series on shared axes with a legend, y from the data's
// minimum to maximum.
func lineChart(title, xLabel, yLabel string, ss []series) template.HTML {
	n := 0
	for _, s := range ss {
		n += len(s.Points)
	}
	if n == 0 {
		return ""
	}
	return template.HTML(lineSVG(title, xLabel, yLabel, ss, false) + lineSVG(title, xLabel, yLabel, ss, true))
}

func lineSVG(title, xLabel, yLabel string, ss []series, phone bool) string {
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.Points {
			minX, maxX = math.Min(minX, p[0]), math.Max(maxX, p[0])
			minY, maxY = math.Min(minY, p[1]), math.Max(maxY, p[1])
		}
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY, minY = maxY+0.5, minY-0.5
	}
	const right, top, bottom = 16, 14, 60
	width, left, cols, plotH, class := chartWidth, 56, 3, 186, "wide"
	if phone {
		width, left, cols, plotH, class = phoneWidth, 50, 1, 150, "phone"
	}
	legendRows := (len(ss) + cols - 1) / cols
	h := top + plotH + bottom + (legendRows-1)*15
	pw, ph := float64(width-left-right), float64(plotH)
	sx := func(x float64) float64 { return float64(left) + (x-minX)/(maxX-minX)*pw }
	sy := func(y float64) float64 { return top + (1-(y-minY)/(maxY-minY))*ph }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart %s" role="img" viewBox="0 0 %d %d" width="%d" height="%d"><title>%s</title>`,
		class, width, h, width, h, esc(title))
	for i := 0; i <= 4; i++ {
		y := minY + (maxY-minY)*float64(i)/4
		fmt.Fprintf(&sb, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, left, width-right, sy(y), sy(y))
		fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%.3g</text>`, left-6, sy(y)+4, y)
	}
	fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d">%.4g</text>`, left, top+plotH+16, minX)
	fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d" text-anchor="end">%.4g</text>`, width-right, top+plotH+16, maxX)
	fmt.Fprintf(&sb, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, float64(left)+pw/2, top+plotH+28, esc(xLabel))
	fmt.Fprintf(&sb, `<text class="axis" x="12" y="%.1f" transform="rotate(-90 12 %.1f)" text-anchor="middle">%s</text>`, top+ph/2, top+ph/2, esc(yLabel))
	for i, s := range ss {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(p[0]), sy(p[1])))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&sb, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, color, strings.Join(pts, " "), esc(s.Name))
		if len(s.Points) == 1 {
			fmt.Fprintf(&sb, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), color)
		}
		lx, ly := left+(i%cols)*190, top+plotH+46+(i/cols)*15
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text class="legend" x="%d" y="%d">%s</text>`,
			lx, ly-9, color, lx+14, ly, esc(short(s.Name, 19)))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// short cuts s to n runes with an ellipsis in the middle, which keeps both
// ends of a hotkey readable.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	half := (n - 1) / 2
	return string(r[:half]) + "…" + string(r[len(r)-(n-1-half):])
}
