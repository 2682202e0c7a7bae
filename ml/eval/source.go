package eval

// Source gives a dataset's sequences by index, so that evaluation and
// training read a dataset larger than memory as they go (a token store
// maps its file and decodes only the sequences a batch uses) instead of
// holding all of it. Preference data is a Source too: sequence 2i is pair
// i's chosen answer and 2i+1 its rejected one (see PairsOf).
//
// Implementations are safe for concurrent reads.
type Source interface {
	// Len is the number of sequences.
	Len() int
	// SeqLen is the number of tokens of sequence i.
	SeqLen(i int) int
	// Counted is the number of scored positions of sequence i, as
	// Sequence.Counted counts them (the first position never is).
	Counted(i int) int
	// Seq returns sequence i. The caller may keep it but must not change
	// it.
	Seq(i int) Sequence
}

// Sequences is a Source over sequences held in memory.
type Sequences []Sequence

func (s Sequences) Len() int           { return len(s) }
func (s Sequences) SeqLen(i int) int   { return len(s[i].IDs) }
func (s Sequences) Counted(i int) int  { return s[i].Counted() }
func (s Sequences) Seq(i int) Sequence { return s[i] }

// PairsOf lays pairs out as a Source: sequence 2i is pair i's chosen
// answer, 2i+1 its rejected one.
func PairsOf(pairs []Pair) Source { return pairSlice(pairs) }

type pairSlice []Pair

func (p pairSlice) Len() int          { return 2 * len(p) }
func (p pairSlice) SeqLen(i int) int  { return len(p.Seq(i).IDs) }
func (p pairSlice) Counted(i int) int { return p.Seq(i).Counted() }
func (p pairSlice) Seq(i int) Sequence {
	if i%2 == 0 {
		return p[i/2].Chosen
	}
	return p[i/2].Rejected
}

// Pairs is the number of preference pairs of a pair Source.
func Pairs(src Source) int { return src.Len() / 2 }

// PairAt returns pair i of a pair Source.
func PairAt(src Source, i int) Pair { return Pair{Chosen: src.Seq(2 * i), Rejected: src.Seq(2*i + 1)} }

// Subset is a Source of some sequences of another, in the order of idx.
func Subset(src Source, idx []int32) Source { return subset{src, idx} }

type subset struct {
	src Source
	idx []int32
}

func (s subset) Len() int           { return len(s.idx) }
func (s subset) SeqLen(i int) int   { return s.src.SeqLen(int(s.idx[i])) }
func (s subset) Counted(i int) int  { return s.src.Counted(int(s.idx[i])) }
func (s subset) Seq(i int) Sequence { return s.src.Seq(int(s.idx[i])) }

// PairSubset is a pair Source of some pairs of another, in the order of
// idx (pair indices).
func PairSubset(src Source, idx []int32) Source {
	seq := make([]int32, 0, 2*len(idx))
	for _, i := range idx {
		seq = append(seq, 2*i, 2*i+1)
	}
	return subset{src, seq}
}

// Head is a Source of the first n sequences of src (all when it has fewer).
func Head(src Source, n int) Source {
	n = min(n, src.Len())
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return subset{src, idx}
}
