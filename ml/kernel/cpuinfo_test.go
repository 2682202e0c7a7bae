package kernel

import "testing"

func TestCPUFeatures(t *testing.T) {
	f := CPUFeatures()
	if len(f) == 0 {
		t.Fatal("no features and no placeholder")
	}
	if HasBF16() && f[0] == "(none detected)" {
		t.Errorf("bf16 kernels run but no feature listed: %v", f)
	}
	CPUModel() // "" where /proc/cpuinfo is missing; must not fail
}
