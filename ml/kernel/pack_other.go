//go:build !amd64 || purego

package kernel

func gatherPanel(panel []float32, width int, src []float32, ld, rows, kc int) {
	gatherPanelGo(panel, width, src, ld, rows, kc)
}
