package tuning

import (
	"math"
	"strings"
	"testing"
)

func TestPlatformRecipes(t *testing.T) {
	ps := Platforms()
	if len(ps) != 5 {
		t.Fatalf("%d platforms, want 5", len(ps))
	}
	for _, p := range ps {
		for _, n := range []int{200, 1660, 200000} {
			r := p.Recipe(PlatformFacts{Examples: n, PretrainLR: 2e-3})
			if err := r.Check(); err != nil {
				t.Errorf("%s at %d examples: %v", p.Name, n, err)
			}
			if r.Name != p.Name || r.LR <= 0 || r.Epochs <= 0 || r.LoRA == nil {
				t.Errorf("%s: recipe %+v leaves its rate, epochs or mode to the engine", p.Name, r)
			}
		}
		if len(p.Sources) == 0 || p.Title == "" {
			t.Errorf("%s names no source", p.Name)
		}
		for _, s := range p.Sources {
			if !strings.HasPrefix(s, "https://") {
				t.Errorf("%s: source %q is not a link", p.Name, s)
			}
		}
		if _, err := PlatformNamed(p.Name); err != nil {
			t.Error(err)
		}
	}
	if _, err := PlatformNamed("nope"); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("unknown platform: %v", err)
	}
	// The size-dependent defaults follow their documentation.
	oa, _ := PlatformNamed("openai")
	small, big := oa.Recipe(PlatformFacts{Examples: 1660, PretrainLR: 2e-3}), oa.Recipe(PlatformFacts{Examples: 200000})
	if small.BatchSize*small.GradAccum != 3 || math.Abs(small.LR-0.05*2e-3) > 1e-12 {
		t.Errorf("openai on 1660 examples: batch %d×%d, lr %g; want 0.2%% of the examples (3) at 0.05 of the pretraining rate", small.BatchSize, small.GradAccum, small.LR)
	}
	if big.BatchSize*big.GradAccum != 256 || math.Abs(big.LR-0.2*3e-4) > 1e-12 {
		t.Errorf("openai on 200000 examples: batch %d×%d, lr %g; want the cap of 256 at 0.2 of the default pretraining rate", big.BatchSize, big.GradAccum, big.LR)
	}
	g, _ := PlatformNamed("vertex")
	if r := g.Recipe(PlatformFacts{Examples: 500}); r.BatchSize != 4 || r.LR != 1e-3 || r.Epochs != 5 {
		t.Errorf("vertex on 500 examples: %+v", r)
	}
}

func TestRecipeCheck(t *testing.T) {
	for _, r := range []Recipe{
		{Name: "a", LR: -1}, {Name: "b", Schedule: "step"}, {Name: "c", WarmupRatio: floatPtr(1.5)},
		{Name: "d", LoRARank: -2}, {Name: "e", Epochs: 1e9},
	} {
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), "recipe "+r.Name) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	for _, name := range RecipeNames() {
		r, _ := NamedRecipe(name)
		if err := r.Check(); err != nil {
			t.Error(err)
		}
	}
}
