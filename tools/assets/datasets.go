package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/parquet-go/parquet-go"
)

// Dataset sizes: crucible's validator holds out a test split only from
// datasets of at least 2000 rows, so each set has a little more.
const definitionWords = 2200

// instructRow is one row of an instruct dataset (Gradients' default
// columns, detected by crucible without a mapping).
type instructRow struct {
	Instruction string `json:"instruction" parquet:"instruction"`
	Output      string `json:"output" parquet:"output"`
}

// dpoRow is one row of a preference dataset.
type dpoRow struct {
	Prompt   string `json:"prompt" parquet:"prompt"`
	Chosen   string `json:"chosen" parquet:"chosen"`
	Rejected string `json:"rejected" parquet:"rejected"`
}

// fact is one question with its phrasings and answer; Group names the
// relation it belongs to (siblings of a group answer the same kind of
// question, which makes their answers plausible wrong answers).
type fact struct {
	Group     string
	Questions []string
	Answer    string
}

func datasetsDir(o options) string { return filepath.Join(o.out, "datasets") }

// buildDatasets writes facts (instruct), definitions (instruct),
// facts_dpo (DPO) and arithmetic (grpo) as JSON Lines and Parquet under
// assets/datasets.
func buildDatasets(o options) error {
	facts, err := quizFacts(o)
	if err != nil {
		return err
	}
	var factRows []instructRow
	for _, f := range facts {
		for _, q := range f.Questions {
			factRows = append(factRows, instructRow{Instruction: q, Output: f.Answer})
		}
	}
	defs, err := definitionRows(o, definitionWords)
	if err != nil {
		return err
	}
	pairs := dpoPairs(facts)
	dir := datasetsDir(o)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeBoth(dir, "facts", factRows); err != nil {
		return err
	}
	if err := writeBoth(dir, "definitions", defs); err != nil {
		return err
	}
	if err := writeBoth(dir, "facts_dpo", pairs); err != nil {
		return err
	}
	groups := map[string]int{}
	for _, f := range facts {
		groups[f.Group]++
	}
	fmt.Printf("facts: %d facts, %d rows %v\ndefinitions: %d rows\nfacts_dpo: %d pairs\n", len(facts), len(factRows), groups, len(defs), len(pairs))
	return buildArithmetic(o)
}

// writeBoth writes rows as name.jsonl and name.parquet in dir.
func writeBoth[T any](dir, name string, rows []T) error {
	f, err := os.Create(filepath.Join(dir, name+".jsonl"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := parquet.WriteFile(filepath.Join(dir, name+".parquet"), rows); err != nil {
		return fmt.Errorf("write %s.parquet: %w", name, err)
	}
	return nil
}

// sentence capitalizes s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

// article is "a" or "an" for a noun.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiouAEIOU", rune(w[0])) {
		return "an"
	}
	return "a"
}

// quizFacts turns the quiz files into facts with two or three phrasings
// each. A question that would have two different answers is dropped.
func quizFacts(o options) ([]fact, error) {
	var facts []fact
	add := func(group, answer string, qs ...string) {
		if strings.TrimSpace(answer) == "" || strings.EqualFold(answer, "gok") {
			return
		}
		facts = append(facts, fact{Group: group, Questions: qs, Answer: sentence(answer)})
	}
	for _, file := range []string{"africa", "america", "asia", "europe", "province"} {
		recs, err := quizFile(o, file)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if len(r.Fields) < 2 {
				return nil, fmt.Errorf("quiz %s:%d: want place:capital", file, r.Line)
			}
			place := r.Fields[0]
			add("capital", r.Fields[1],
				"What is the capital of "+place+"?",
				"Name the capital city of "+place+".",
				"Which city is the capital of "+place+"?")
		}
	}
	states, err := quizFile(o, "state")
	if err != nil {
		return nil, err
	}
	for _, r := range states {
		if len(r.Fields) < 4 {
			return nil, fmt.Errorf("quiz state:%d: want state:capital:abbreviation:flower", r.Line)
		}
		st := r.Fields[0]
		add("capital", r.Fields[1],
			"What is the capital of "+st+"?",
			"Name the capital city of "+st+".",
			"Which city is the capital of the state of "+st+"?")
		abbr := strings.TrimSuffix(r.Fields[2], ".")
		add("postal abbreviation", abbr,
			"What is the postal abbreviation for "+st+"?",
			"How is "+st+" abbreviated on an envelope?")
		add("state flower", r.Fields[3],
			"What is the state flower of "+st+"?",
			"Which flower is the state flower of "+st+"?")
	}
	elems, err := quizFile(o, "elements")
	if err != nil {
		return nil, err
	}
	for _, r := range elems {
		if len(r.Fields) < 4 {
			return nil, fmt.Errorf("quiz elements:%d: want symbol:number:weight:element", r.Line)
		}
		sym, num, el := r.Fields[0], r.Fields[1], r.Fields[3]
		lower := strings.ToLower(el)
		add("element symbol", sym,
			"What is the chemical symbol for "+lower+"?",
			"Which symbol stands for the element "+lower+"?")
		add("atomic number", num,
			"What is the atomic number of "+lower+"?",
			"How many protons are in the nucleus of "+article(lower)+" "+lower+" atom?")
		add("element name", el,
			"Which element has the chemical symbol "+sym+"?",
			"Which element has atomic number "+num+"?")
	}
	pres, err := quizFile(o, "pres")
	if err != nil {
		return nil, err
	}
	for _, r := range pres {
		if len(r.Fields) < 4 {
			return nil, fmt.Errorf("quiz pres:%d: want president:term:vice:successor", r.Line)
		}
		p := r.Fields[0]
		add("successor", r.Fields[3],
			"Who succeeded "+p+" as President of the United States?",
			"Who became president after "+p+"?")
		if len(r.Alts[2]) == 1 {
			add("vice president", r.Fields[2],
				"Who was vice president under "+p+"?",
				"Who served as "+p+"'s vice president?")
		}
	}
	colls, err := quizFile(o, "collectives")
	if err != nil {
		return nil, err
	}
	for _, r := range colls {
		if len(r.Fields) < 2 {
			return nil, fmt.Errorf("quiz collectives:%d: want individuals:collective", r.Line)
		}
		for _, ind := range r.Alts[0] {
			c := r.Fields[1]
			add("collective noun", article(c)+" "+c+" of "+ind,
				"What is a group of "+ind+" called?",
				"What do you call a group of "+ind+"?")
		}
	}
	babies, err := quizFile(o, "babies")
	if err != nil {
		return nil, err
	}
	for _, r := range babies {
		if len(r.Fields) < 2 {
			return nil, fmt.Errorf("quiz babies:%d: want baby:adult", r.Line)
		}
		for _, adult := range r.Alts[1] {
			b := r.Fields[0]
			add("young animal", article(b)+" "+b,
				"What is a baby "+adult+" called?",
				"What do you call a young "+adult+"?")
		}
	}
	// Drop questions with conflicting answers (a president who served
	// twice has two successors), and facts left without questions.
	answers := map[string]map[string]bool{}
	for _, f := range facts {
		for _, q := range f.Questions {
			if answers[q] == nil {
				answers[q] = map[string]bool{}
			}
			answers[q][f.Answer] = true
		}
	}
	seen := map[string]bool{}
	var out []fact
	for _, f := range facts {
		var qs []string
		for _, q := range f.Questions {
			if len(answers[q]) == 1 && !seen[q] {
				seen[q] = true
				qs = append(qs, q)
			}
		}
		if len(qs) > 0 {
			f.Questions = qs
			out = append(out, f)
		}
	}
	return out, nil
}

// dpoPairs pairs every phrasing of each fact with its answer (chosen) and
// a sibling's different answer (rejected): the k-th phrasing takes the
// k-th following fact of the same group whose answer differs.
func dpoPairs(facts []fact) []dpoRow {
	byGroup := map[string][]int{}
	var groups []string
	for i, f := range facts {
		if byGroup[f.Group] == nil {
			groups = append(groups, f.Group)
		}
		byGroup[f.Group] = append(byGroup[f.Group], i)
	}
	var out []dpoRow
	for _, g := range groups {
		idx := byGroup[g]
		for k, i := range idx {
			var wrong []string
			for step := 1; step < len(idx) && len(wrong) < len(facts[i].Questions); step++ {
				if a := facts[idx[(k+step)%len(idx)]].Answer; a != facts[i].Answer {
					wrong = append(wrong, a)
				}
			}
			for q, question := range facts[i].Questions {
				if q < len(wrong) {
					out = append(out, dpoRow{Prompt: question, Chosen: facts[i].Answer, Rejected: wrong[q]})
				}
			}
		}
	}
	return out
}

// definitionRows picks the n most frequent single-word WordNet lemmas (by
// the sense-tagged count of the index files) and asks for the meaning of
// each one's first sense.
func definitionRows(o options, n int) ([]instructRow, error) {
	syns, err := readWordNet(o)
	if err != nil {
		return nil, err
	}
	type key struct {
		pos string
		off int64
	}
	byOff := map[key]synset{}
	for _, s := range syns {
		byOff[key{s.POS, s.Offset}] = s
	}
	type cand struct {
		word, pos string
		tagged    int
		def       string
	}
	best := map[string]cand{}
	dir := filepath.Join(srcDir(o, "wordnet"), "usr/share/wordnet")
	for _, wf := range wordnetFiles {
		path := filepath.Join(dir, "index."+strings.TrimPrefix(wf.File, "data."))
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			t := sc.Text()
			if strings.HasPrefix(t, "  ") {
				continue
			}
			fl := strings.Fields(t)
			if len(fl) < 6 {
				f.Close()
				return nil, fmt.Errorf("%s:%d: only %d fields", path, line, len(fl))
			}
			pcnt, err := strconv.Atoi(fl[3])
			if err != nil || len(fl) < 4+pcnt+3 {
				f.Close()
				return nil, fmt.Errorf("%s:%d: bad pointer count %q", path, line, fl[3])
			}
			tagged, err := strconv.Atoi(fl[4+pcnt+1])
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: bad tagsense_cnt %q", path, line, fl[4+pcnt+1])
			}
			word := fl[0]
			if !isPlainWord(word) || tagged < 1 {
				continue
			}
			off, err := strconv.ParseInt(fl[4+pcnt+2], 10, 64)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: bad synset offset %q", path, line, fl[4+pcnt+2])
			}
			s, ok := byOff[key{wf.POS, off}]
			if !ok {
				f.Close()
				return nil, fmt.Errorf("%s:%d: synset %d not in %s", path, line, off, wf.File)
			}
			if len(s.Def) > 90 || strings.Contains(strings.ToLower(s.Def), word) {
				continue
			}
			if c, ok := best[word]; !ok || tagged > c.tagged {
				best[word] = cand{word: word, pos: wf.POS, tagged: tagged, def: s.Def}
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	list := make([]cand, 0, len(best))
	for _, c := range best {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].tagged != list[j].tagged {
			return list[i].tagged > list[j].tagged
		}
		return list[i].word < list[j].word
	})
	list = list[:min(n, len(list))]
	sort.Slice(list, func(i, j int) bool { return list[i].word < list[j].word })
	rows := make([]instructRow, len(list))
	for i, c := range list {
		var q string
		switch i % 3 {
		case 0:
			q = `What does the word "` + c.word + `" mean?`
		case 1:
			q = `Define "` + c.word + `".`
		default:
			q = `Give the meaning of the ` + c.pos + ` "` + c.word + `".`
		}
		rows[i] = instructRow{Instruction: q, Output: sentence(c.def)}
	}
	return rows, nil
}

// isPlainWord accepts lowercase alphabetic words of 3 to 14 letters.
func isPlainWord(w string) bool {
	if len(w) < 3 || len(w) > 14 {
		return false
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}
