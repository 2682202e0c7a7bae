package model_test

import (
	"fmt"
	"os"

	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// Fine-tune a LoRA adapter on one batch, save it in PEFT format and merge it.
func Example_loRA() {
	m, err := model.New(model.NewGPT2Config(32, 2, 4, 64, 16), 1)
	if err != nil {
		panic(err)
	}
	if _, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"c_attn", "c_fc"}}); err != nil {
		panic(err)
	}
	opt := optim.NewAdamW(m.TrainableParams(), optim.DefaultAdamW())
	batch := model.Batch{B: 1, T: 4,
		Tokens: []int32{5, 6, 7, 8},
		Labels: []int32{model.IgnoreIndex, 7, 8, 9}} // the prompt's first position is not scored
	for range 3 {
		m.ZeroGrads()
		if _, err := m.ForwardBackward(batch, 0); err != nil {
			panic(err)
		}
		opt.Step(1e-2)
	}
	dir, _ := os.MkdirTemp("", "adapter")
	defer os.RemoveAll(dir)
	if err := m.SaveAdapter(dir); err != nil {
		panic(err)
	}
	if err := m.MergeLoRA(); err != nil {
		panic(err)
	}
	out, err := m.Generate([]int32{5, 6}, model.GenerateOptions{MaxNewTokens: 3, StopTokens: []int32{}}, nil)
	fmt.Println(len(out), err)
	// Output: 3 <nil>
}
