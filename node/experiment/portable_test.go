package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A recorded command line names no folder of this machine outside the
// working directory: temporary ones read $TMPDIR/….
func TestCommandLineIsPortable(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(os.TempDir(), "x123", "series")
	got := CommandLine([]string{"experiment", "series", "--dir", tmp, "--assets=" + filepath.Join(wd, "assets"), "--rounds", "5", "--dataset", "facts"})
	want := "crucible experiment series --dir $TMPDIR/x123/series --assets=assets --rounds 5 --dataset facts"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if strings.Contains(got, os.TempDir()+"/") {
		t.Errorf("%s names the temporary folder", got)
	}
}
