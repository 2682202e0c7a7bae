// Package delivery turns a task's winning submission into what its customer
// downloads: a Hugging Face directory inside one top-level folder, its
// weights in the base model's dtype, a LoRA adapter either as it is (with
// base_model_name_or_path naming the base by the id the customer used) or
// merged into the base as a full model, and a model card that says what
// the model is: its base, the data, the metric, its loss against the base's
// and the recipe it was trained with.
//
// It is an adapter: the validator node wires it to the customer API.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// Spec says what to deliver.
type Spec struct {
	// Result is the winner's stored result: a tar of a Hugging Face
	// directory, a full model or a PEFT adapter.
	Result io.Reader
	// BaseDir is the base model's directory.
	BaseDir string
	// Merged asks for an adapter merged into the base as a full model; a
	// full model is delivered as one either way.
	Merged bool
	// Card is what the model card states.
	Card Card
	// WorkDir is where the delivery is built (a temporary directory under
	// it, removed afterwards); "" uses the system's.
	WorkDir string
}

// Card is what a delivered model's card states.
type Card struct {
	TaskID      string
	Type        crucible.TaskType
	BaseModel   string // the base as the customer named it: written as base_model_name_or_path
	Dataset     string // the dataset as the customer knows it
	TrainRows   int
	TestRows    int
	Hours       float64
	Miner       string   // the winner's hotkey
	TestLoss    *float64 // the winner's loss on the hidden test split
	BaseLoss    *float64 // the base model's
	Reward      *float64 // grpo: the winner's score
	BaseReward  *float64 // grpo: the base's
	CustomTest  bool     // the test split was the customer's own test set
	Validator   string   // the validator's URL, where the task's page is
	MergedFrom  string   // set by Package when an adapter was merged
	RecipeNotes []string // set by Package from the result's training.json
}

// Limits bound what Package unpacks from a result.
var Limits = api.ExtractLimits{MaxFiles: 200, MaxBytes: 256 << 30}

// Folder is the top-level folder of a task's delivery archive.
func Folder(taskID string, merged bool) string {
	if merged {
		return "crucible-" + taskID + "-merged"
	}
	return "crucible-" + taskID
}

// Package writes the delivery as a tar archive to w: every file inside
// Folder(task, merged). Returns EINVALID for a result that is neither a full
// model nor an adapter, or an adapter that does not fit the base.
func Package(ctx context.Context, spec Spec, w io.Writer) error {
	work, err := os.MkdirTemp(spec.WorkDir, "crucible-delivery-")
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	defer os.RemoveAll(work)
	in, out := filepath.Join(work, "in"), filepath.Join(work, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return err
	}
	if _, err := api.ExtractTar(spec.Result, in, Limits); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "delivery: unpack the winner's result")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dt, err := BaseDType(spec.BaseDir)
	if err != nil {
		return err
	}
	card := spec.Card
	card.RecipeNotes = recipeNotes(in)
	adapter := exists(filepath.Join(in, model.AdapterConfigFile))
	merged := spec.Merged || !adapter
	switch {
	case adapter && spec.Merged:
		if err := mergeAdapter(spec.BaseDir, in, out, dt); err != nil {
			return err
		}
		card.MergedFrom = "a LoRA adapter"
	case adapter:
		if err := copyDir(in, out); err != nil {
			return err
		}
		if err := SetAdapterBase(out, card.BaseModel); err != nil {
			return err
		}
	case exists(filepath.Join(in, "config.json")):
		if err := convertFull(in, out, dt); err != nil {
			return err
		}
	default:
		return crucible.Errorf(crucible.EINVALID, "delivery: the winner's result has neither config.json nor %s", model.AdapterConfigFile)
	}
	if merged {
		if err := copyMissing(spec.BaseDir, out, tokenizerFiles); err != nil {
			return err
		}
	}
	if err := copyMissing(in, out, []string{"training.json"}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "README.md"), []byte(card.markdown(adapter && !spec.Merged, dt)), 0o644); err != nil {
		return err
	}
	return api.WriteTarUnder(w, out, Folder(card.TaskID, spec.Merged))
}

// tokenizerFiles are the files a full model needs beside its weights to be
// used, taken from the base when the result lacks them.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
	"vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json", "generation_config.json"}

// BaseDType is the dtype of the base model's weights (the first floating
// tensor's): what a delivered full model is stored in.
func BaseDType(dir string) (tensor.DType, error) {
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINTERNAL, "delivery: read the base model's weights")
	}
	defer set.Close()
	for _, name := range set.Names() {
		_, dt, err := set.Raw(name)
		if err != nil {
			return 0, err
		}
		if dt == tensor.BF16 || dt == tensor.F16 || dt == tensor.F32 {
			return dt, nil
		}
	}
	return tensor.F32, nil
}

// mergeAdapter loads the base, applies the adapter in dir, merges it and
// saves the full model in dt to out.
func mergeAdapter(baseDir, adapterDir, out string, dt tensor.DType) error {
	m, err := model.Load(baseDir)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "delivery: load the base model")
	}
	if err := m.LoadAdapter(adapterDir); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "delivery: the winner's adapter does not fit the base")
	}
	if err := m.MergeLoRA(); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "delivery: merge the adapter")
	}
	return m.SaveAs(out, dt)
}

// convertFull stores a full model's weights in dt; the other files of the
// result are kept.
func convertFull(in, out string, dt tensor.DType) error {
	m, err := model.Load(in)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "delivery: load the winner's model")
	}
	if err := m.SaveAs(out, dt); err != nil {
		return err
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "config.json" || strings.HasSuffix(name, ".safetensors") || name == safetensors.IndexFile {
			continue
		}
		if err := copyMissing(in, out, []string{name}); err != nil {
			return err
		}
	}
	return nil
}

// SetAdapterBase sets base_model_name_or_path in dir's adapter_config.json
// to base, keeping every other key as it is.
func SetAdapterBase(dir, base string) error {
	p := filepath.Join(dir, model.AdapterConfigFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "delivery: %s", model.AdapterConfigFile)
	}
	cfg["base_model_name_or_path"] = base
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(p, append(b, '\n'), 0o644)
}

// recipeNotes reads the recipe a crucible trainer recorded in
// training.json: the strategy's choices, each with its reason.
func recipeNotes(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "training.json"))
	if err != nil {
		return nil
	}
	var rec struct {
		Recipe  map[string]any `json:"recipe"`
		Choices []struct {
			Name   string `json:"name"`
			Value  any    `json:"value"`
			Reason string `json:"reason"`
		} `json:"choices"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	var notes []string
	for _, c := range rec.Choices {
		if c.Name == "" {
			continue
		}
		n := fmt.Sprintf("%s = %v", c.Name, c.Value)
		if c.Reason != "" {
			n += " (" + c.Reason + ")"
		}
		notes = append(notes, n)
	}
	if len(notes) == 0 && len(rec.Recipe) > 0 {
		r, _ := json.Marshal(rec.Recipe)
		notes = append(notes, "recipe "+string(r))
	}
	return notes
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// copyMissing copies each of names from src to dst where src has it and dst
// does not.
func copyMissing(src, dst string, names []string) error {
	for _, n := range names {
		from, to := filepath.Join(src, n), filepath.Join(dst, n)
		if !exists(from) || exists(to) {
			continue
		}
		if err := copyFile(from, to); err != nil {
			return err
		}
	}
	return nil
}

// copyDir copies the regular files of src (recursively) to dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

func copyFile(from, to string) error {
	r, err := os.Open(from)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.Create(to)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	return errors.Join(err, w.Close())
}
