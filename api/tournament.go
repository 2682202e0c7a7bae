package api

import (
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Tournament paths of the node protocol (signed by the caller's hotkey).
const (
	// PathTournamentAnnounce is served by miners: POST
	// TournamentAnnouncement → AnnounceResponse.
	PathTournamentAnnounce = "/tournament_announce"
	// PathTournamentEntries is served by validators: POST
	// /v1/node/tournaments/{id}/entries with an EnterRequest → EntryReceipt.
	PathTournamentEntries = "/v1/node/tournaments/"
	// TournamentEntriesSuffix ends an entry URL.
	TournamentEntriesSuffix = "/entries"
)

// TournamentAnnouncement tells a miner that a tournament takes entries
// until EntriesClose, at EntryURL.
type TournamentAnnouncement struct {
	TournamentID string              `json:"tournament_id"`
	EntriesClose time.Time           `json:"entries_close"`
	Fee          float64             `json:"fee"`   // TAO, charged when the entry is accepted
	Hours        float64             `json:"hours"` // each task's training budget
	Types        []crucible.TaskType `json:"types"` // the task types it plays
	Defender     string              `json:"defender,omitempty"`
	EntryURL     string              `json:"entry_url"`
}

// AnnounceResponse is a miner's answer: whether it will enter (it then
// sends its entry to the announcement's EntryURL).
type AnnounceResponse struct {
	Entering bool   `json:"entering"`
	Message  string `json:"message"`
}

// EnterRequest is a miner's entry: its method, the fee it agrees to pay,
// and its signature over crucible.EntryMessage(tournament, its hotkey,
// the method's hash, fee, signed_at), hex.
type EnterRequest struct {
	Method     crucible.Method `json:"method"`
	MethodHash string          `json:"method_hash"`
	Fee        float64         `json:"fee"`
	SignedAt   time.Time       `json:"signed_at"`
	Signature  string          `json:"signature"`
}

// EntryReceipt acknowledges an accepted entry.
type EntryReceipt struct {
	TournamentID string    `json:"tournament_id"`
	Hotkey       string    `json:"hotkey"`
	MethodHash   string    `json:"method_hash"`
	FeeBlock     int64     `json:"fee_block,omitempty"`
	EntriesClose time.Time `json:"entries_close"`
}

// Tournament paths of the customer API.
const (
	// PathTournaments: GET → TournamentList (no key needed); POST
	// crucible.TournamentSettings → crucible.Tournament (admins: announce a
	// tournament). GET /v1/tournaments/{id} → TournamentDetail.
	PathTournaments = "/v1/tournaments"
	// TournamentEventsPath, under /v1/tournaments/{id}: GET ?after=ID →
	// []crucible.TournamentEvent, or a text/event-stream ending with "end".
	TournamentEventsPath = "/events"
	// PathChampions: GET → []crucible.Champion, newest first (no key
	// needed); POST SeedChampionRequest → crucible.Champion (admins: seed
	// the champion of a network that has none).
	PathChampions = "/v1/champions"
)

// TournamentList is the tournaments, newest first, and the current champion.
type TournamentList struct {
	Tournaments []*crucible.Tournament `json:"tournaments"`
	Champion    *crucible.Champion     `json:"champion,omitempty"`
}

// TournamentDetail is one tournament: its entries and its bracket.
type TournamentDetail struct {
	Tournament *crucible.Tournament        `json:"tournament"`
	Entries    []*crucible.TournamentEntry `json:"entries"`
	Matches    []*crucible.TournamentMatch `json:"matches"`
	Threshold  float64                     `json:"boss_threshold"` // what a challenger must beat the defender by on a boss task
}

// SeedChampionRequest names the champion of a network that has none.
type SeedChampionRequest struct {
	Hotkey string          `json:"hotkey"`
	Method crucible.Method `json:"method"`
}
