// Package vectors loads the real-chain test data under chain/subtensor/testdata
// (see testdata/SOURCES.md for where each file comes from) for the tests of
// the Subtensor client's packages.
package vectors

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Dir returns the testdata directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Read returns the contents of a testdata file, gunzipped if its name ends
// in .gz.
func Read(name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(Dir(), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	return io.ReadAll(r)
}

// Hex returns the bytes of a testdata file holding 0x-prefixed hex.
func Hex(name string) ([]byte, error) {
	b, err := Read(name)
	if err != nil {
		return nil, err
	}
	return DecodeHex(strings.TrimSpace(string(b)))
}

// DecodeHex decodes a 0x-prefixed hex string.
func DecodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(s, "0x"))
}

// The metadata blobs.
const (
	V14Spec343    = "bittensor-sdk/metadata_v14_spec343.hex.gz"
	V15Spec343    = "bittensor-sdk/metadata_at_version_15_spec343.hex.gz"
	V14Mainnet219 = "bitgo/metadata_v14_mainnet_spec219.hex.gz"
	V14Testnet233 = "bitgo/metadata_v14_testnet_spec233.hex.gz"
	ResponsesFile = "bittensor-sdk/websocket_responses.json.gz"
	ReferenceFile = "polkadot/reference.json.gz"
)

// AllMetadata lists every metadata blob.
var AllMetadata = []string{V14Spec343, V15Spec343, V14Mainnet219, V14Testnet233}

// Responses are JSON-RPC responses recorded from Bittensor's main network
// by the Bittensor SDK: seed (the SDK test) → method → params (as JSON
// text) → response object (with "result" or "error").
type Responses map[string]map[string]map[string]json.RawMessage

// LoadResponses reads the recorded responses.
func LoadResponses() (Responses, error) {
	b, err := Read(ResponsesFile)
	if err != nil {
		return nil, err
	}
	var r Responses
	return r, json.Unmarshal(b, &r)
}

// Reference is what polkadot.js computed from the same data (gen.mjs).
type Reference struct {
	Metadata map[string]struct {
		Version            int    `json:"version"`
		SpecName           string `json:"spec_name"`
		SpecVersion        uint32 `json:"spec_version"`
		TransactionVersion uint32 `json:"transaction_version"`
		Types              int    `json:"types"`
		Pallets            []struct {
			Name  string `json:"name"`
			Index int    `json:"index"`
		} `json:"pallets"`
		Extensions []string `json:"extensions"`
		Calls      map[string]struct {
			Index int      `json:"index"`
			Args  []string `json:"args"`
		} `json:"calls"`
		Storage map[string][]string `json:"storage"`
		Keys    map[string]string   `json:"keys"`
	} `json:"metadata"`
	NeuronsLite struct {
		Block   int64    `json:"block"`
		Params  []any    `json:"params"`
		Count   int      `json:"count"`
		Neurons []Neuron `json:"neurons"`
	} `json:"neurons_lite_netuid1"`
	// CommitHash is blake2_256 of the SCALE tuple (//Alice, 56u16,
	// [0,3,7], [65535,1200,7], [9,8,7,6,5,4,3,2], 61000u64).
	CommitHash string `json:"commit_hash"`
	// Eras are mortal eras encoded by polkadot.js.
	Eras []struct {
		Current uint64 `json:"current"`
		Period  uint64 `json:"period"`
		Hex     string `json:"hex"`
	} `json:"eras"`
}

// Neuron is one decoded NeuronInfoLite.
type Neuron struct {
	UID             int    `json:"uid"`
	Hotkey          string `json:"hotkey"`
	Coldkey         string `json:"coldkey"`
	Active          bool   `json:"active"`
	IP              string `json:"ip"`
	IPType          int    `json:"ip_type"`
	Port            int    `json:"port"`
	StakeRao        string `json:"stake_rao"`
	ValidatorPermit bool   `json:"validator_permit"`
	LastUpdate      int64  `json:"last_update"`
	Incentive       int    `json:"incentive"`
	Dividends       int    `json:"dividends"`
	Consensus       int    `json:"consensus"`
	ValidatorTrust  int    `json:"validator_trust"`
	Emission        string `json:"emission"`
}

// LoadReference reads the polkadot.js reference values.
func LoadReference() (*Reference, error) {
	b, err := Read(ReferenceFile)
	if err != nil {
		return nil, err
	}
	var r Reference
	return &r, json.Unmarshal(b, &r)
}
