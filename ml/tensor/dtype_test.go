package tensor

import (
	"encoding/json"
	"testing"
)

func TestDTypes(t *testing.T) {
	tests := []struct {
		name  string
		dt    DType
		size  int
		float bool
	}{
		{"F32", F32, 4, true}, {"F16", F16, 2, true}, {"BF16", BF16, 2, true}, {"F64", F64, 8, true},
		{"I64", I64, 8, false}, {"I32", I32, 4, false}, {"I16", I16, 2, false}, {"I8", I8, 1, false},
		{"U64", U64, 8, false}, {"U32", U32, 4, false}, {"U16", U16, 2, false}, {"U8", U8, 1, false},
		{"BOOL", BOOL, 1, false}, {"F8_E4M3", F8E4M3, 1, false}, {"F8_E5M2", F8E5M2, 1, false},
	}
	for _, tt := range tests {
		dt, err := ParseDType(tt.name)
		if err != nil || dt != tt.dt {
			t.Errorf("ParseDType(%q) = %v, %v; want %v", tt.name, dt, err, tt.dt)
		}
		if dt.String() != tt.name || dt.Size() != tt.size || dt.IsFloat() != tt.float || !dt.Valid() {
			t.Errorf("%s: String %q Size %d IsFloat %v Valid %v", tt.name, dt.String(), dt.Size(), dt.IsFloat(), dt.Valid())
		}
	}
	for _, bad := range []string{"", "f32", "FLOAT", "INVALID", "F8"} {
		if _, err := ParseDType(bad); err == nil {
			t.Errorf("ParseDType(%q) succeeded", bad)
		}
	}
	if Invalid.Valid() || DType(200).Valid() || DType(200).Size() != 0 || DType(200).String() != "DType(200)" {
		t.Error("invalid dtypes misreported")
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		s     Shape
		numel int
		str   string
	}{
		{Shape{}, 1, "[]"}, {nil, 1, "[]"}, {Shape{0}, 0, "[0]"}, {Shape{2, 3, 4}, 24, "[2 3 4]"}, {Shape{5, 0, 7}, 0, "[5 0 7]"},
	}
	for _, tt := range tests {
		if got := tt.s.Numel(); got != tt.numel {
			t.Errorf("%v.Numel() = %d, want %d", tt.s, got, tt.numel)
		}
		if n, ok := tt.s.NumelChecked(); !ok || n != int64(tt.numel) {
			t.Errorf("%v.NumelChecked() = %d, %v", tt.s, n, ok)
		}
		if got := tt.s.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if !tt.s.Equal(tt.s.Clone()) {
			t.Errorf("%v not equal to its clone", tt.s)
		}
	}
	if (Shape{2, 3}).Equal(Shape{3, 2}) || (Shape{2}).Equal(Shape{2, 1}) {
		t.Error("unequal shapes compare equal")
	}
	for _, bad := range []Shape{{-1}, {1 << 40, 1 << 40}, {2, -3, 0}} {
		if _, ok := bad.NumelChecked(); ok {
			t.Errorf("%v.NumelChecked() accepted", bad)
		}
	}
}

func TestDTypeText(t *testing.T) {
	type cfg struct {
		DType DType `json:"dtype"`
	}
	b, err := json.Marshal(cfg{BF16})
	if err != nil || string(b) != `{"dtype":"BF16"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var c cfg
	if err := json.Unmarshal([]byte(`{"dtype":"F8_E5M2"}`), &c); err != nil || c.DType != F8E5M2 {
		t.Fatalf("Unmarshal = %v, %v", c.DType, err)
	}
	if err := json.Unmarshal([]byte(`{"dtype":"F7"}`), &c); err == nil {
		t.Error("Unmarshal accepted an unknown dtype")
	}
	if _, err := json.Marshal(cfg{Invalid}); err == nil {
		t.Error("Marshal accepted Invalid")
	}
}
