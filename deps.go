//go:build deps

// This file pins the modules the packages under construction are about to use,
// so that go.mod is edited in one place while they are written. It is never
// built; it goes away once every module is imported by real code.
package deps

import (
	_ "github.com/ChainSafe/go-schnorrkel"
	_ "github.com/ardanlabs/jinja"
	_ "github.com/cosmos/go-bip39"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/mr-tron/base58"
	_ "github.com/parquet-go/parquet-go"
	_ "github.com/riverqueue/river"
	_ "github.com/riverqueue/river/riverdriver/riverpgxv5"
	_ "github.com/riverqueue/river/riverdriver/riversqlite"
	_ "github.com/tiktoken-go/tokenizer"
	_ "golang.org/x/crypto/blake2b"
	_ "modernc.org/sqlite"
)
