package tokenizer

import (
	"math"
	"math/rand/v2"
	"strings"
)

// sampleWords are common English words, most frequent first; SampleText
// draws from them with Zipf-like weights.
var sampleWords = strings.Fields(`the of and to a in is that for it as was with be by on not he
I this are or his from at which but have an they you were her she there one been all we their
has would when if so no will more can out up who said what about into than them only some
could other time new these two may first then do any like my now over such our man me even most
made after also did many before must through back years where much your way well down should
because each just those people how too little state good very make world still own see men work
long get here between both life being under never day same another know while last might us great
old year off come since against go came right used take three states himself few house use during
without again place around however home small found thought went say part once general high upon
school every don't does got united left number course war until always away something fact though
water less public put think almost hand enough far took head yet government system better set
told nothing night end why called didn't eyes find going look asked later knew point next program
city business give group toward young days let room president side social given present several
order national possible rather second face per among form important often things looking early
white case john become large big need four within felt children along saw best church ever least
power development light thing seemed family interest want members mind country area others done
turned although open god service certain kind problem began different door thus help sense means
whole matter perhaps itself york it's times law human line above name example action company hands
local show whether five history gave today either act feet across taken past quite anything having
seen death experience body word half really week car field already information tell together college
shall money period held keep sure probably free seems political real behind cannot miss question
air office making brought whose special heard major problems ago became federal moment study available
known result street economic boy position reason change south board individual job society areas west
close turn love community true court force full seem am front brown quick fox jumped over lazy dog
tokenizer network model training validator miner weights dataset evaluation language learning`)

// sampleSyllables make up rarer words (names, terms) that are not in the list.
var sampleSyllables = strings.Fields(`ka lo mi ra ten vor pel an dru sil qua ber nix ol tha
gor ven ish ul mar cor dex fin hal jun kel lum nor pra quin ros sta tor vel wyn zan`)

// SampleText returns about size bytes of deterministic English-like text
// (seeded by seed): sentences of common words with Zipf-like frequencies,
// invented names and terms, numbers, punctuation, quotes, contractions and
// paragraphs. crucible's tokenizer benchmarks use it so that they need no
// download.
func SampleText(size int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 0x7e7e))
	// Zipf-like cumulative weights over the word list.
	cum := make([]float64, len(sampleWords))
	total := 0.0
	for i := range sampleWords {
		total += 1 / math.Pow(float64(i+1), 0.9)
		cum[i] = total
	}
	word := func() string {
		x := r.Float64() * total
		lo, hi := 0, len(cum)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cum[mid] < x {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return sampleWords[lo]
	}
	invented := func() string {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(sampleSyllables[r.IntN(len(sampleSyllables))])
		}
		return b.String()
	}
	var b strings.Builder
	b.Grow(size + 256)
	sentences := 0
	for b.Len() < size {
		n := 4 + r.IntN(18)
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			var w string
			switch x := r.IntN(100); {
			case x < 4:
				w = invented()
				w = strings.ToUpper(w[:1]) + w[1:]
			case x < 6:
				w = invented()
			case x < 8:
				w = []string{"1", "12", "365", "2024", "3.5", "42%", "$19.99", "1,000"}[r.IntN(8)]
			default:
				w = word()
			}
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 && r.IntN(12) == 0 {
				b.WriteString([]string{",", ",", ";", ":", " -"}[r.IntN(5)])
			}
		}
		b.WriteString([]string{".", ".", ".", "?", "!", "...", `."`}[r.IntN(7)])
		sentences++
		if sentences%(3+r.IntN(5)) == 0 {
			b.WriteString("\n\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}
