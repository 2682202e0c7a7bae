package validatornode_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/validator"
)

type recordingEvaluator struct{ got []validator.EvalRequest }

func (r *recordingEvaluator) Evaluate(_ context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	r.got = append(r.got, req)
	return &validator.EvalResult{Evaluator: crucible.EvaluatorInfo{Kind: crucible.EvaluatorEngine}}, nil
}

// The torch evaluator hands crucible_torch the test split's token file and
// reports its result under the torch kind with its versions; grpo tasks go
// to the fallback (the engine).
func TestTorchEvaluatorSeam(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(dir, "python3")
	os.WriteFile(py, []byte(`#!/bin/sh
case "$*" in *"--tokens "*"/test.tokens.safetensors"*) ;; *) echo "crucible_torch eval: wrong arguments: $*" >&2; exit 2;; esac
echo '{"loss":2.25,"tokens":30,"samples":4,"failure":"","is_adapter":false,"fingerprint":[1,2],"evaluator":{"kind":"torch","crucible_torch":"1","torch":"2.5.1","cuda":null,"device":"cpu","engine":"compact"}}'
`), 0o755)
	fallback := &recordingEvaluator{}
	ev := &validatornode.TorchEvaluator{Runtime: &torch.Runtime{Python: py, Dir: dir}, Device: "cpu", Fallback: fallback}
	res, err := ev.Evaluate(context.Background(), validator.EvalRequest{TaskType: crucible.TaskInstruct, BaseDir: "base", ModelDir: "sub",
		TestPath: "test.jsonl", TestTokensPath: filepath.Join(dir, "test.tokens.safetensors")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Loss != 2.25 || res.Tokens != 30 || len(res.Fingerprint) != 2 || res.Evaluator.Kind != crucible.EvaluatorTorch ||
		!strings.Contains(res.Evaluator.Version, "torch 2.5.1") {
		t.Errorf("result %+v", res)
	}
	if res, err = ev.Evaluate(context.Background(), validator.EvalRequest{TaskType: crucible.TaskGRPO}); err != nil || len(fallback.got) != 1 ||
		res.Evaluator.Kind != crucible.EvaluatorEngine {
		t.Errorf("grpo: %+v, %v, fallback saw %d", res, err, len(fallback.got))
	}
}

// A validator asked for the torch evaluator where no Python has PyTorch
// does not start, and says how to fix it.
func TestTorchEvaluatorNeedsPyTorch(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(dir, "python3")
	os.WriteFile(py, []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n"), 0o755)
	_, err := validatornode.NewTorchEvaluator(context.Background(), py, filepath.Join(dir, "torch"), "auto")
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "--evaluator torch") {
		t.Fatalf("got %v", err)
	}
}
