// Package protocol is the validator↔miner protocol as Go interfaces, with
// two transports: HTTP (the wire protocol of api's paths and types, signed
// by the caller's hotkey when the http.Client signs, as package sign's
// Transport does) and in-process (Local, for simulations and tests of
// whole networks without sockets).
//
// Each direction has a client interface, what the caller sees, and a
// server interface, what the callee implements, told who calls:
//
//	validator ──Miner──────────► MinerServer (miner.Miner):  Offer, StartTraining, TaskStatus, Announce
//	miner ─────Validator───────► ValidatorServer (validator.Validator): OpenLink, Upload, Enter, Results
//
// A validator reaches the miner at a node with a MinerDialer; a miner
// reaches the validator that started a job with a ValidatorDialer. Both
// transports carry domain errors (*crucible.Error) across with their code,
// message and hint, and one test suite checks that they behave alike.
package protocol

import (
	"context"
	"io"
	"net/url"
	"os"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Miner is a miner as a validator sees it.
type Miner interface {
	// Offer asks whether the miner takes a task; a refusal is an answer,
	// not an error. Errors are transport failures and EUNAUTHORIZED or
	// EFORBIDDEN when the miner refuses to talk to this validator.
	Offer(ctx context.Context, o api.TaskOffer) (api.OfferResponse, error)
	// StartTraining tells the miner it was chosen. Returns EINVALID for a
	// malformed request, ECONFLICT for a task it already has or when it has
	// no free slot.
	StartTraining(ctx context.Context, req api.TrainRequest) (api.TrainResponse, error)
	// TaskStatus reports on a task the miner was started on. Returns
	// ENOTFOUND for another.
	TaskStatus(ctx context.Context, taskID string) (api.MinerTaskStatus, error)
	// Announce tells the miner a tournament takes entries; its answer
	// says whether it will enter (it sends its entry to the announcement's
	// EntryURL itself).
	Announce(ctx context.Context, a api.TournamentAnnouncement) (api.AnnounceResponse, error)
}

// MinerServer is what a miner implements; from is the verified hotkey of
// the calling validator.
type MinerServer interface {
	Offer(ctx context.Context, from string, o api.TaskOffer) (api.OfferResponse, error)
	StartTraining(ctx context.Context, from string, req api.TrainRequest) (api.TrainResponse, error)
	TaskStatus(ctx context.Context, from, taskID string) (api.MinerTaskStatus, error)
	Announce(ctx context.Context, from string, a api.TournamentAnnouncement) (api.AnnounceResponse, error)
}

// Validator is a validator as a miner sees it. Both calls are addressed by
// the URLs the validator handed out in its api.TrainRequest.
type Validator interface {
	// Download opens a signed download link (the base model as a tar, or
	// the train split) from byte offset on, so that a broken download
	// resumes where it stopped (0: from the start). Returns EUNAUTHORIZED
	// for a bad or expired link, EFORBIDDEN for what is never served (a
	// test split), ENOTFOUND, EINVALID for an offset past the end.
	Download(ctx context.Context, link string, offset int64) (io.ReadCloser, error)
	// Upload sends a result tar to the upload URL. Returns EFORBIDDEN when
	// the miner has no part in the task or names another result, ECONFLICT
	// when the task no longer takes results (late), ETOOLARGE.
	Upload(ctx context.Context, uploadURL string, body io.Reader) (*api.UploadResponse, error)
	// Enter sends a tournament entry to the entry URL of an
	// announcement. Returns EUNAUTHORIZED for a signature that does not
	// verify, EFORBIDDEN for a caller that is not the entry's miner,
	// ECONFLICT when entries are closed or the miner or its method has
	// entered already, EINVALID for a malformed entry.
	Enter(ctx context.Context, entryURL string, req api.EnterRequest) (*api.EntryReceipt, error)
	// Results reads the validator's public results log at resultsURL (a
	// start_training's ResultsURL): up to a page of entries with sequence
	// numbers after after, oldest first. The caller verifies them
	// (resultlog.Verify). Returns ENOTFOUND for a URL that is not a
	// results log.
	Results(ctx context.Context, resultsURL string, after int64) ([]*crucible.ResultEntry, error)
}

// ValidatorServer is what a validator implements; from is the verified
// hotkey of the calling miner ("" for a download: links carry their own
// signature).
type ValidatorServer interface {
	// OpenLink opens the object a download link names: key is the link's
	// path below api.PathBlob, query its signature.
	OpenLink(ctx context.Context, key string, query url.Values) (io.ReadCloser, error)
	// Upload stores a result.
	Upload(ctx context.Context, from, taskID, name string, body io.Reader) (*api.UploadResponse, error)
	// Enter accepts a miner's tournament entry.
	Enter(ctx context.Context, from, tournamentID string, req api.EnterRequest) (*api.EntryReceipt, error)
	// Results returns up to limit entries of the public results log after
	// sequence number after (from may be "": the log is public).
	Results(ctx context.Context, from string, after int64, limit int) ([]*crucible.ResultEntry, error)
}

// File is an upload body read from a file whose size and SHA-256 (hex)
// are known: the HTTP transport announces both, so the request is signed
// without the file being read twice, and resent from the start when a
// redirect or retry needs it.
type File struct {
	*os.File
	Size   int64
	SHA256 string
}

// MinerDialer returns the miner at node n, as the dialing validator.
type MinerDialer func(n *crucible.Node) Miner

// ValidatorDialer returns the validator with the given hotkey (the one that
// started a job), as the dialing miner.
type ValidatorDialer func(hotkey string) Validator

// Authorizer admits a caller by hotkey, or says why not (EFORBIDDEN); the
// metagraph's check (chain.MetagraphCache.Authorizer) is one.
type Authorizer func(ctx context.Context, hotkey string) error

// InfoMiner is a Miner that answers the validator's heartbeat (both
// transports do); InfoServer is the miner side. A MinerServer without Info
// simply has no heartbeat: it is never counted online by estimates.
type InfoMiner interface {
	// Info returns what the miner declares it takes.
	Info(ctx context.Context) (api.MinerInfo, error)
}

// InfoServer is a MinerServer that answers Info.
type InfoServer interface {
	Info(ctx context.Context, from string) (api.MinerInfo, error)
}
