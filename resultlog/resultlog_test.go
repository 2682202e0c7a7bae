package resultlog_test

import (
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

func chainOf(t *testing.T, k *sign.Keypair, n int) []*crucible.ResultEntry {
	t.Helper()
	var out []*crucible.ResultEntry
	var prev *crucible.ResultEntry
	for i := 0; i < n; i++ {
		e, err := resultlog.Next(prev, resultlog.KindTaskResult, resultlog.TaskResult{TaskID: string(rune('a' + i)), Work: float64(i)}, k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		prev = e
	}
	return out
}

func verify(addr string, msg, sig []byte) error { return sign.VerifySignature(addr, msg, sig) }

func TestIntactLogVerifies(t *testing.T) {
	k, err := sign.FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	log := chainOf(t, k, 5)
	if p := resultlog.Verify(log, 1, "", k.Address(), verify); len(p) != 0 {
		t.Fatalf("problems in an intact log: %v", p)
	}
	// A suffix verifies given the hash it follows.
	if p := resultlog.Verify(log[2:], 3, log[1].Hash, k.Address(), verify); len(p) != 0 {
		t.Fatalf("problems in a suffix: %v", p)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	k, _ := sign.FromURI("//Alice")
	mallory, _ := sign.FromURI("//Mallory")
	cases := []struct {
		name   string
		mutate func([]*crucible.ResultEntry) []*crucible.ResultEntry
		want   string
	}{
		{"altered payload", func(l []*crucible.ResultEntry) []*crucible.ResultEntry {
			l[2].Payload = []byte(strings.Replace(string(l[2].Payload), `"work":2`, `"work":9`, 1))
			return l
		}, "altered"},
		{"dropped entry", func(l []*crucible.ResultEntry) []*crucible.ResultEntry {
			return append(l[:2], l[3:]...)
		}, "missing"},
		{"rehashed but unsigned", func(l []*crucible.ResultEntry) []*crucible.ResultEntry {
			e := l[4]
			e.Payload = []byte(`{"task_id":"forged"}`)
			e.Hash = resultlog.Hash(e.Seq, e.PrevHash, e.Kind, e.Payload)
			return l
		}, "signature"},
		{"signed by someone else", func(l []*crucible.ResultEntry) []*crucible.ResultEntry {
			e, _ := resultlog.Next(l[3], resultlog.KindTaskResult, map[string]string{"x": "y"}, mallory)
			return append(l[:4], e)
		}, "not by the validator"},
	}
	for _, c := range cases {
		log := c.mutate(chainOf(t, k, 5))
		p := resultlog.Verify(log, 1, "", k.Address(), verify)
		found := false
		for _, x := range p {
			found = found || strings.Contains(x.Message, c.want)
		}
		if !found {
			t.Errorf("%s: problems %v, want one mentioning %q", c.name, p, c.want)
		}
	}
}
