package main

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestEncodings checks the generator's instruction encodings against the
// bytes GNU as 2.40 produces for the same instructions (objdump -d of an
// assembled file; the instruction in Intel syntax is the case name).
func TestEncodings(t *testing.T) {
	mp := func(base, index string, disp int) *mem { return &mem{base: base, index: index, disp: disp} }
	tests := []struct {
		asm  string
		got  []byte
		want string
	}{
		{"ldtilecfg [rax]", ldtilecfg(mem{base: "AX"}), "c4 e2 78 49 00"},
		{"ldtilecfg [r12]", ldtilecfg(mem{base: "R12"}), "c4 c2 78 49 04 24"},
		{"ldtilecfg [rbp]", ldtilecfg(mem{base: "BP"}), "c4 e2 78 49 45 00"},
		{"tileloadd tmm4, [rax+rcx*1]", tileloadd(4, mem{"AX", "CX", 0}), "c4 e2 7b 4b 24 08"},
		{"tileloadd tmm6, [rbx+r9*1+64]", tileloadd(6, mem{"BX", "R9", 64}), "c4 a2 7b 4b 74 0b 40"},
		{"tileloadd tmm7, [r13+rcx*1+1024]", tileloadd(7, mem{"R13", "CX", 1024}), "c4 c2 7b 4b bc 0d 00 04 00 00"},
		{"tilestored [rdx+r8*1], tmm0", tilestored(mem{"DX", "R8", 0}, 0), "c4 a2 7a 4b 04 02"},
		{"tilestored [r11+r8*1+64], tmm3", tilestored(mem{"R11", "R8", 64}, 3), "c4 82 7a 4b 5c 03 40"},
		{"tilerelease", tilerelease(), "c4 e2 78 49 c0"},
		{"tilezero tmm0", tilezero(0), "c4 e2 7b 49 c0"},
		{"tilezero tmm3", tilezero(3), "c4 e2 7b 49 d8"},
		{"tdpbf16ps tmm0, tmm4, tmm6", tdpbf16ps(0, 4, 6), "c4 e2 4a 5c c4"},
		{"tdpbf16ps tmm3, tmm5, tmm7", tdpbf16ps(3, 5, 7), "c4 e2 42 5c dd"},
		{"vdpbf16ps zmm0, zmm28, dword ptr [rax]{1to16}", vdpbf16ps(0, 28, 0, mp("AX", "", 0)), "62 f2 1e 50 52 00"},
		{"vdpbf16ps zmm27, zmm29, dword ptr [rax+892]{1to16}", vdpbf16ps(27, 29, 0, mp("AX", "", 892)), "62 62 16 50 52 98 7c 03 00 00"},
		{"vdpbf16ps zmm5, zmm30, dword ptr [r10+64]{1to16}", vdpbf16ps(5, 30, 0, mp("R10", "", 64)), "62 d2 0e 50 52 6a 10"},
		{"vdpbf16ps zmm17, zmm3, zmm25", vdpbf16ps(17, 3, 25, nil), "62 82 66 48 52 c9"},
		{"vcvtne2ps2bf16 zmm0, zmm1, zmm2", vcvtne2ps2bf16(0, 1, 2), "62 f2 77 48 72 c2"},
		{"vcvtne2ps2bf16 zmm20, zmm17, zmm9", vcvtne2ps2bf16(20, 17, 9), "62 c2 77 40 72 e1"},
	}
	for _, tt := range tests {
		want, err := hex.DecodeString(strings.ReplaceAll(tt.want, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(tt.got) != hex.EncodeToString(want) {
			t.Errorf("%s: got % x, want % x", tt.asm, tt.got, want)
		}
	}
}
