package tokenizer

import "testing"

func benchmarkEncode(b *testing.B, model string) {
	tok := loadTestdata(b, model)
	text := SampleText(1<<20, 1)
	tok.Encode(text) // warm the word cache, as in steady use
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for range b.N {
		tok.Encode(text)
	}
}

func BenchmarkEncodeGPT2(b *testing.B)    { benchmarkEncode(b, "gpt2") }
func BenchmarkEncodeQwen3(b *testing.B)   { benchmarkEncode(b, "qwen3") }
func BenchmarkEncodeMistral(b *testing.B) { benchmarkEncode(b, "mistral") }

// BenchmarkEncodeGPT2Docs encodes the text as 4 KiB documents, as a dataset
// is tokenised.
func BenchmarkEncodeGPT2Docs(b *testing.B) {
	tok := loadTestdata(b, "gpt2")
	text := SampleText(1<<20, 1)
	var docs []string
	for len(text) > 4096 {
		docs, text = append(docs, text[:4096]), text[4096:]
	}
	docs = append(docs, text)
	for _, d := range docs {
		tok.Encode(d)
	}
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for range b.N {
		for _, d := range docs {
			tok.Encode(d)
		}
	}
}

func BenchmarkDecodeGPT2(b *testing.B) {
	tok := loadTestdata(b, "gpt2")
	text := SampleText(1<<20, 1)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for range b.N {
		tok.Decode(ids)
	}
}
