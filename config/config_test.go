package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/config"
)

type inner struct {
	Depth int `flag:"depth"`
}

type sample struct {
	inner
	Addr    string        `flag:"addr"`
	Workers int           `flag:"workers"`
	Timeout time.Duration `flag:"timeout"`
	Tags    []string      `flag:"tags"`
	Debug   bool          `flag:"debug"`
	Ratio   float64       `flag:"ratio"`
	Big     int64         `flag:"big"`
	Seed    uint64        `flag:"seed"`
	hidden  int
}

func init() {
	config.Register(reflect.TypeFor[inner](), map[string]config.Doc{"Depth": {Help: "how deep", Default: "3"}})
	config.Register(reflect.TypeFor[sample](), map[string]config.Doc{
		"Addr": {Help: "listen address", Default: "127.0.0.1:80"}, "Workers": {Help: "workers", Default: "4"},
		"Timeout": {Help: "timeout", Default: "1m30s"}, "Tags": {Help: "tags", Default: "a,b"}, "Debug": {Help: "debug"},
		"Ratio": {Help: "ratio", Default: "0.5"}, "Big": {Help: "big", Default: "-7"}, "Seed": {Help: "seed", Default: "9"},
	})
}

func TestDefaultsAndFields(t *testing.T) {
	var c sample
	c.Debug = true // a field without a documented default keeps its value
	config.Defaults(&c)
	want := sample{inner: inner{Depth: 3}, Addr: "127.0.0.1:80", Workers: 4, Timeout: 90 * time.Second, Tags: []string{"a", "b"},
		Debug: true, Ratio: 0.5, Big: -7, Seed: 9}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	fields, err := config.Fields(&c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, " ") != "depth addr workers timeout tags debug ratio big seed" {
		t.Errorf("fields %v", names)
	}
	if config.Env("max-upload-bytes") != "CRUCIBLE_MAX_UPLOAD_BYTES" {
		t.Error(config.Env("max-upload-bytes"))
	}
}

type undocumented struct {
	Name string `flag:"name"`
}

func TestUndocumentedFieldRefused(t *testing.T) {
	_, err := config.Fields(&undocumented{})
	if err == nil || !strings.Contains(err.Error(), "undocumented.Name (--name) has no documentation") {
		t.Errorf("undocumented field: %v", err)
	}
	if _, err := config.Fields(undocumented{}); err == nil {
		t.Error("a struct value instead of a pointer was accepted")
	}
}

func TestSetErrors(t *testing.T) {
	var c sample
	v := reflect.ValueOf(&c).Elem()
	for field, bad := range map[string]string{"Workers": "four", "Timeout": "10", "Debug": "yes please", "Ratio": "x", "Seed": "-1"} {
		if err := config.Set(v.FieldByName(field), bad); err == nil {
			t.Errorf("%s = %q accepted", field, bad)
		}
	}
	if err := config.Set(v.FieldByName("Tags"), ""); err != nil || c.Tags != nil {
		t.Errorf("empty list: %v %v", c.Tags, err)
	}
}
