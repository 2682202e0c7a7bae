//go:build !amd64 || purego

package kernel

func gatherPanel(panel []float32, width int, src []float32, ld, rows, kc int) {
	gatherPanelGo(panel, width, src, ld, rows, kc)
}

func gatherPanelBF16(panel []float32, width int, src []uint16, ld, rows, kc int) {
	gatherPanelBF16Go(panel, width, src, ld, rows, kc)
}
