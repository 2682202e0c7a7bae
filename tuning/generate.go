package tuning

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// GenerateSpec names a model and a prompt to continue.
type GenerateSpec struct {
	ModelDir string // the model (Hugging Face layout); the base when Adapter is set
	// Adapter is a PEFT adapter directory applied to ModelDir; "" for none.
	Adapter string
	Prompt  string // the user's message
	System  string // an optional system message (with the chat template only)
	// Raw takes the prompt as it is; otherwise it is rendered as a user turn
	// with the model's chat template (ChatML when it has none). A model
	// crucible fine-tuned on instruct or text data never saw a template: use
	// RawByDefault to tell.
	Raw         bool
	MaxTokens   int     // most new tokens; defaults to 128
	Temperature float64 // 0 is greedy decoding
	TopP        float64 // nucleus sampling; 0 or 1 keeps every token
	Seed        uint64  // sampling seed: sampling is reproducible
}

// generation is a loaded model with a prompt ready to continue.
type generation struct {
	m    *model.Model
	tok  *tokenizer.Tokenizer
	in   []int32
	opts model.GenerateOptions
}

// load loads spec's model (and adapter) and tokenizes its prompt.
func load(spec GenerateSpec) (*generation, error) {
	if spec.MaxTokens <= 0 {
		spec.MaxTokens = 128
	}
	tok, err := tokenizer.Load(spec.ModelDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "load tokenizer")
	}
	m, err := model.Load(spec.ModelDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "load model")
	}
	if spec.Adapter != "" {
		if err := m.LoadAdapter(spec.Adapter); err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "load adapter")
		}
		if err := m.MergeLoRA(); err != nil {
			return nil, err
		}
	}
	text := spec.Prompt
	if !spec.Raw {
		var msgs []tokenizer.Message
		if spec.System != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: spec.System})
		}
		msgs = append(msgs, tokenizer.Message{Role: "user", Content: spec.Prompt})
		if text, err = tok.ApplyChatTemplate(msgs, true); err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "chat template")
		}
	}
	ids := tok.Encode(text)
	if tok.AddBOS() && tok.BOSID() >= 0 && (len(ids) == 0 || ids[0] != tok.BOSID()) {
		ids = append([]int{tok.BOSID()}, ids...)
	}
	in := make([]int32, len(ids))
	for i, id := range ids {
		in[i] = int32(id)
	}
	opts := model.GenerateOptions{MaxNewTokens: spec.MaxTokens, Temperature: spec.Temperature, TopP: spec.TopP,
		Seed: spec.Seed, StopTokens: StopTokens(m, tok)}
	return &generation{m: m, tok: tok, in: in, opts: opts}, nil
}

// Generate continues spec's prompt until an end-of-turn token or MaxTokens
// and returns the text. With emit set, it also streams the text as it
// comes, in whole UTF-8 characters. Returns EINVALID for a model, adapter
// or tokenizer that does not load.
func Generate(ctx context.Context, spec GenerateSpec, emit func(string)) (string, error) {
	g, err := load(spec)
	if err != nil {
		return "", err
	}
	var out []int
	printed := 0
	_, err = g.m.Generate(g.in, g.opts, func(t int32) bool {
		if ctx.Err() != nil || slices.Contains(g.opts.StopTokens, t) {
			return false
		}
		out = append(out, int(t))
		if emit != nil {
			s := g.tok.Decode(out)
			// Hold back an incomplete UTF-8 sequence until its last byte.
			if r, _ := utf8.DecodeLastRuneInString(s); !(r == utf8.RuneError && len(s) > printed) && len(s) > printed {
				emit(s[printed:])
				printed = len(s)
			}
		}
		return true
	})
	s := g.tok.Decode(out)
	if emit != nil && len(s) > printed {
		emit(s[printed:])
	}
	if err == nil {
		err = ctx.Err()
	}
	return s, err
}

// Completion is one sampled continuation.
type Completion struct {
	Text   string
	Tokens int // tokens generated, the stop token included
}

// Sample draws n completions of spec's prompt as one batch (the group
// sampling GRPO trains with).
func Sample(spec GenerateSpec, n int) ([]Completion, error) {
	g, err := load(spec)
	if err != nil {
		return nil, err
	}
	outs, err := g.m.GenerateGroup(g.in, n, g.opts)
	if err != nil {
		return nil, err
	}
	res := make([]Completion, len(outs))
	for i, c := range outs {
		res[i] = Completion{Text: CompletionText(g.tok, c, g.opts.StopTokens), Tokens: len(c)}
	}
	return res, nil
}

// TrainedTaskType is the task type a model or adapter directory crucible
// trained was trained on (from its training.json), or "".
func TrainedTaskType(dir string) crucible.TaskType {
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, TrainingFile))
	if err != nil {
		return ""
	}
	var rec struct {
		TaskType crucible.TaskType `json:"task_type"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.TaskType
}

// RawByDefault reports whether a model crucible trained (the adapter, or
// the model) saw its prompts without a chat template (instruct and text
// tasks), so that generation should take the prompt as it is; it returns
// the directory that says so.
func RawByDefault(modelDir, adapter string) (string, bool) {
	for _, d := range []string{adapter, modelDir} {
		if t := TrainedTaskType(d); t == crucible.TaskInstruct || t == crucible.TaskText {
			return d, true
		}
	}
	return "", false
}
