package resultlog

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/fuzzguard"
)

// FuzzDecode: a results log an auditor reads from a validator (which may
// lie) is decoded and verified (or refused) in time, whatever its entries
// hold.
func FuzzDecode(f *testing.F) {
	tr, _ := json.Marshal(TaskResult{TaskID: "t", Miners: []MinerResult{{Hotkey: "h", Rank: 1}}})
	w, _ := json.Marshal(Weights{})
	f.Add(KindTaskResult, tr, "")
	f.Add(KindWeights, w, "00")
	f.Add(KindTaskResult, []byte(`{"miners":[{"rank":-1,"loss":"x"}]}`), "zz")
	f.Add("tournament", []byte(`{`), "")
	f.Fuzz(func(t *testing.T, kind string, payload []byte, hash string) {
		fuzzguard.Within(t, func() {
			entries := []*crucible.ResultEntry{
				{Seq: 1, Kind: kind, Payload: payload, Hash: hash, CreatedAt: time.Unix(0, 0)},
				{Seq: 2, Kind: kind, Payload: payload, PrevHash: hash, CreatedAt: time.Unix(0, 0)},
			}
			Decode(entries)
			DecodeTournaments(entries)
			Verify(entries, 0, "", "5F", func(string, []byte, []byte) error { return nil })
		})
	})
}
