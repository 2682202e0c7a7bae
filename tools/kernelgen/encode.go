package main

import (
	"fmt"
	"strings"
)

// The Go assembler knows neither the AMX instructions nor AVX512_BF16's
// VDPBF16PS and VCVTNE2PS2BF16, so the generator encodes them itself (VEX
// and EVEX prefixes, ModRM, SIB, displacement) and emits them as BYTE
// directives, each line commented with the instruction in Intel syntax.
// encode_test.go checks the encodings against bytes from the GNU assembler.

// gpr numbers the general-purpose registers by their Go assembler names.
var gpr = map[string]int{
	"AX": 0, "CX": 1, "DX": 2, "BX": 3, "SP": 4, "BP": 5, "SI": 6, "DI": 7,
	"R8": 8, "R9": 9, "R10": 10, "R11": 11, "R12": 12, "R13": 13, "R14": 14, "R15": 15,
}

// mem is a memory operand base + index·1 + disp (index "" for none).
type mem struct {
	base, index string
	disp        int
}

// modrm encodes ModRM (+ SIB + displacement) for reg and the memory
// operand m; n is the EVEX disp8 scale (1 for VEX). It returns the bytes
// and the high bits of the base and index registers (for REX-like bits).
func (m mem) modrm(reg, n int) (out []byte, b3, x3 int) {
	base, ok := gpr[m.base]
	if !ok {
		panic("kernelgen: unknown base register " + m.base)
	}
	index := 4 // none
	if m.index != "" {
		var ok bool
		if index, ok = gpr[m.index]; !ok || index == 4 {
			panic("kernelgen: bad index register " + m.index)
		}
	}
	var mod int
	var disp []byte
	switch {
	case m.disp == 0 && base&7 != 5:
		mod = 0
	case m.disp%n == 0 && m.disp/n >= -128 && m.disp/n <= 127:
		mod, disp = 1, []byte{byte(int8(m.disp / n))}
	default:
		d := uint32(int32(m.disp))
		mod, disp = 2, []byte{byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)}
	}
	needSIB := m.index != "" || base&7 == 4
	if needSIB {
		out = append(out, byte(mod<<6|(reg&7)<<3|4), byte((index&7)<<3|base&7))
	} else {
		out = append(out, byte(mod<<6|(reg&7)<<3|base&7))
	}
	return append(out, disp...), base >> 3, index >> 3
}

// vex3 encodes a three-byte VEX prefix for map 0F38 with L=0, W=0.
func vex3(r3, x3, b3, vvvv, pp int) []byte {
	return []byte{0xC4, byte((^r3&1)<<7 | (^x3&1)<<6 | (^b3&1)<<5 | 0x02), byte((^vvvv&15)<<3 | pp)}
}

// VEX pp values.
const (
	ppNone = 0
	pp66   = 1
	ppF3   = 2
	ppF2   = 3
)

// amxMem encodes an AMX instruction with a memory operand: LDTILECFG,
// TILELOADD and TILESTORED.
func amxMem(pp, op, reg int, m mem) []byte {
	rm, b3, x3 := m.modrm(reg, 1)
	return append(append(vex3(0, x3, b3, 0, pp), byte(op)), rm...)
}

func ldtilecfg(m mem) []byte { return amxMem(ppNone, 0x49, 0, m) }

func tileloadd(tmm int, m mem) []byte { return amxMem(ppF2, 0x4B, tmm, m) }

func tilestored(m mem, tmm int) []byte { return amxMem(ppF3, 0x4B, tmm, m) }

func tilerelease() []byte { return []byte{0xC4, 0xE2, 0x78, 0x49, 0xC0} }

func tilezero(tmm int) []byte { return []byte{0xC4, 0xE2, 0x7B, 0x49, byte(0xC0 | tmm<<3)} }

// tdpbf16ps encodes TDPBF16PS dst, a, b: dst += a·b over bf16 pairs.
func tdpbf16ps(dst, a, b int) []byte {
	return append(vex3(0, 0, 0, b, ppF3), 0x5C, byte(0xC0|dst<<3|a))
}

// evex encodes an EVEX.512 instruction of map 0F38 with W=0 and no
// masking: reg is ModRM.reg, vvvv the second source (0 when unused, which
// encodes as 1111), and rm either a vector register (m nil) or memory,
// broadcast from 32 bits when bcst.
func evex(pp, op, reg, vvvv int, rmReg int, m *mem, bcst bool) []byte {
	var rm []byte
	var b3, x3 int
	if m == nil {
		rm = []byte{byte(0xC0 | (reg&7)<<3 | rmReg&7)}
		b3, x3 = rmReg>>3&1, rmReg>>4&1
	} else {
		n := 64
		if bcst {
			n = 4
		}
		rm, b3, x3 = m.modrm(reg, n)
	}
	p0 := (^(reg>>3)&1)<<7 | (^x3&1)<<6 | (^b3&1)<<5 | (^(reg>>4)&1)<<4 | 0x02
	p1 := (^vvvv&15)<<3 | 0x04 | pp
	p2 := 0x40 | (^(vvvv>>4)&1)<<3 // L'L = 10 (512 bits), V' inverted
	if bcst {
		p2 |= 0x10
	}
	return append([]byte{0x62, byte(p0), byte(p1), byte(p2), byte(op)}, rm...)
}

// vdpbf16ps encodes VDPBF16PS zdst, zsrc1, [m]{1to16} (m non-nil) or
// zdst, zsrc1, zsrc2: zdst += pairwise products of bf16 pairs.
func vdpbf16ps(dst, src1 int, src2 int, m *mem) []byte {
	return evex(ppF3, 0x52, dst, src1, src2, m, m != nil)
}

// vcvtne2ps2bf16 encodes VCVTNE2PS2BF16 zdst, zhi, zlo: the 16 floats of
// zlo rounded to bf16 in the low half of zdst, those of zhi in the high half.
func vcvtne2ps2bf16(dst, hi, lo int) []byte {
	return evex(ppF2, 0x72, dst, hi, lo, nil, false)
}

// byteLine formats bytes as a Go assembler line with a comment.
func byteLine(b []byte, comment string) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("BYTE $0x%02X", x)
	}
	return "\t" + strings.Join(parts, "; ") + " // " + comment
}
