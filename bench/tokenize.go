package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	tiktoken "github.com/tiktoken-go/tokenizer"

	"github.com/crucible-net/crucible/ml/tokenizer"
)

// tokenizeBenchRow is one measurement: one implementation, encode or decode.
type tokenizeBenchRow struct {
	Impl     string  `json:"impl"`
	Op       string  `json:"op"`
	Bytes    int     `json:"bytes"`
	Tokens   int     `json:"tokens"`
	MBPerSec float64 `json:"mb_per_s"`
	// VsTiktoken is MBPerSec divided by tiktoken-go's on the same op.
	VsTiktoken float64 `json:"vs_tiktoken,omitempty"`
}

// TokenizeConfig configures "crucible bench tokenize". Each field's doc
// comment is its documentation and states its default (package config).
type TokenizeConfig struct {
	// JSON prints one JSON object per row.
	JSON bool `flag:"json"`
	// MB is the megabytes of text to encode per run. Defaults to `4`.
	MB float64 `flag:"mb"`
	// Reps is the runs per row; the median is reported. Defaults to `5`.
	Reps int `flag:"reps"`
	// Dir is a tokenizer directory (tokenizer.json) to time instead of GPT-2.
	Dir string `flag:"dir"`
	// DocKB is the document size in KiB the text is cut into (0: one
	// string). Defaults to `4`.
	DocKB int `flag:"doc-kb"`
}

// Tokenize runs the tokenizer benchmark as cfg says and writes its table
// (or JSON lines) to out.
func Tokenize(cfg TokenizeConfig, out io.Writer) error {
	if cfg.Reps < 1 || cfg.MB <= 0 {
		return fmt.Errorf("bench tokenize: --reps must be ≥ 1 and --mb > 0, got %d and %g", cfg.Reps, cfg.MB)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if cfg.DocKB < 0 {
		return fmt.Errorf("bench tokenize: --doc-kb must be ≥ 0, got %d", cfg.DocKB)
	}
	rows, err := runTokenizeBench(cfg.Dir, int(cfg.MB*1e6), cfg.DocKB<<10, cfg.Reps)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("bench tokenize: write: %w", err)
			}
		}
		return nil
	}
	return printTokenizeBench(out, rows)
}

// splitDocs cuts text after the paragraph end ("\n\n") that follows each
// size bytes; size 0 keeps it whole.
func splitDocs(text string, size int) []string {
	if size == 0 {
		return []string{text}
	}
	var docs []string
	for len(text) > size {
		i := strings.Index(text[size:], "\n\n")
		if i < 0 {
			break
		}
		docs = append(docs, text[:size+i+2])
		text = text[size+i+2:]
	}
	return append(docs, text)
}

func runTokenizeBench(dir string, size, docSize, reps int) ([]tokenizeBenchRow, error) {
	text := tokenizer.SampleText(size, 1)
	docs := splitDocs(text, docSize)
	var (
		tok *tokenizer.Tokenizer
		ref tiktoken.Codec
		err error
	)
	if dir != "" {
		if tok, err = tokenizer.Load(dir); err != nil {
			return nil, fmt.Errorf("bench tokenize: %w", err)
		}
	} else {
		if ref, err = tiktoken.Get(tiktoken.R50kBase); err != nil {
			return nil, fmt.Errorf("bench tokenize: tiktoken-go: %w", err)
		}
		if tok, err = gpt2FromTiktoken(ref); err != nil {
			return nil, fmt.Errorf("bench tokenize: %w", err)
		}
	}

	// Each case is one implementation and operation; all cases run once per
	// round, in turn, so that a change in the machine's load hits them alike.
	type benchCase struct {
		impl, op string
		run      func()
	}
	ids := make([][]int, len(docs))
	count := 0
	for i, d := range docs {
		ids[i] = tok.EncodeOrdinary(d)
		count += len(ids[i])
	}
	cases := []benchCase{
		{"crucible", "encode", func() {
			for i, d := range docs {
				ids[i] = tok.EncodeOrdinary(d)
			}
		}},
		{"crucible", "decode", func() {
			for _, x := range ids {
				_ = tok.Decode(x)
			}
		}},
	}
	if ref != nil {
		refIDs := make([][]uint, len(docs))
		for i, d := range docs {
			r, _, err := ref.Encode(d)
			if err != nil {
				return nil, fmt.Errorf("bench tokenize: tiktoken-go: %w", err)
			}
			if !slices.EqualFunc(r, ids[i], func(a uint, b int) bool { return int(a) == b }) {
				return nil, fmt.Errorf("bench tokenize: crucible and tiktoken-go disagree on document %d (%d vs %d tokens)", i, len(ids[i]), len(r))
			}
			refIDs[i] = r
		}
		cases = append(cases,
			benchCase{"tiktoken-go", "encode", func() {
				for i, d := range docs {
					refIDs[i], _, _ = ref.Encode(d)
				}
			}},
			benchCase{"tiktoken-go", "decode", func() {
				for _, x := range refIDs {
					_, _ = ref.Decode(x)
				}
			}},
		)
	}
	times := make([][]float64, len(cases))
	for round := -1; round < reps; round++ { // round -1 warms up
		for i, c := range cases {
			t := time.Now()
			c.run()
			if round >= 0 {
				times[i] = append(times[i], time.Since(t).Seconds())
			}
		}
	}
	rows := make([]tokenizeBenchRow, len(cases))
	for i, c := range cases {
		sort.Float64s(times[i])
		sec := times[i][len(times[i])/2]
		rows[i] = tokenizeBenchRow{Impl: c.impl, Op: c.op, Bytes: len(text), Tokens: count, MBPerSec: float64(len(text)) / sec / 1e6}
	}
	for i := range rows {
		for _, o := range rows {
			if o.Impl == "tiktoken-go" && o.Op == rows[i].Op && rows[i].Impl != "tiktoken-go" {
				rows[i].VsTiktoken = rows[i].MBPerSec / o.MBPerSec
			}
		}
	}
	return rows, nil
}

// gpt2FromTiktoken builds GPT-2's tokenizer.json from tiktoken-go's r50k_base
// ranks: ranks 0-255 are the bytes, and each later token's merge is what
// byte-pair encoding its bytes with the lower ranks leaves as two parts.
func gpt2FromTiktoken(ref tiktoken.Codec) (*tokenizer.Tokenizer, error) {
	const eot = 50256
	tokens := make([]string, eot)
	ranks := make(map[string]int, eot)
	for id := range tokens {
		s, err := ref.Decode([]uint{uint(id)})
		if err != nil {
			return nil, fmt.Errorf("gpt-2 from tiktoken-go: token %d: %w", id, err)
		}
		tokens[id], ranks[s] = s, id
	}
	b2r := byteLevelAlphabet()
	enc := func(s string) string {
		var out []byte
		for i := 0; i < len(s); i++ {
			out = utf8.AppendRune(out, b2r[s[i]])
		}
		return string(out)
	}
	vocab := make(map[string]int, eot+1)
	for id, s := range tokens {
		vocab[enc(s)] = id
	}
	vocab["<|endoftext|>"] = eot
	merges := make([]string, 0, eot-256)
	for id := 256; id < eot; id++ {
		s := tokens[id]
		parts := make([]string, len(s))
		for i := 0; i < len(s); i++ {
			parts[i] = s[i : i+1]
		}
		for len(parts) > 2 {
			best, at := id, -1
			for i := 0; i+1 < len(parts); i++ {
				if r, ok := ranks[parts[i]+parts[i+1]]; ok && r < best {
					best, at = r, i
				}
			}
			if at < 0 {
				break
			}
			parts[at] += parts[at+1]
			parts = slices.Delete(parts, at+1, at+2)
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("gpt-2 from tiktoken-go: token %d %q has no merge", id, s)
		}
		merges = append(merges, enc(parts[0])+" "+enc(parts[1]))
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	file, err := json.Marshal(map[string]any{
		"added_tokens":  []any{map[string]any{"id": eot, "content": "<|endoftext|>", "special": true}},
		"pre_tokenizer": byteLevel,
		"decoder":       byteLevel,
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	})
	if err != nil {
		return nil, err
	}
	return tokenizer.FromJSON(file, nil)
}

// byteLevelAlphabet is GPT-2's bytes_to_unicode: printable Latin-1 bytes map
// to themselves, the others to U+0100 and up in byte order.
func byteLevelAlphabet() [256]rune {
	var b2r [256]rune
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
	}
	return b2r
}

func printTokenizeBench(w io.Writer, rows []tokenizeBenchRow) error {
	if len(rows) > 0 {
		fmt.Fprintf(w, "%.1f MB of English text, one core (GOMAXPROCS 1), median of runs\n", float64(rows[0].Bytes)/1e6)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\top\ttokens\tMB/s\tvs tiktoken-go\t")
	for _, r := range rows {
		vs := "-"
		if r.VsTiktoken > 0 {
			vs = fmt.Sprintf("%.2fx", r.VsTiktoken)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t\n", r.Impl, r.Op, r.Tokens, r.MBPerSec, vs)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench tokenize: write: %w", err)
	}
	return nil
}
