package tuning_test

import (
	"context"
	"fmt"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/tuning"
)

// A miner's automatic strategy trains with the zero Recipe before the
// task's deadline; the validator then scores the result on its hidden test
// split.
func Example() {
	ctx := context.Background()
	res, err := tuning.Train(ctx, tuning.Spec{
		ModelDir: "models/base", DataPath: "train.jsonl", TaskType: crucible.TaskInstruct,
		OutDir: "out", Deadline: time.Now().Add(10 * time.Minute), Seed: 1,
	}, func(p tuning.Progress) { fmt.Printf("%3.0f%% %s\n", 100*p.Fraction, p.Message) })
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := tuning.Evaluate(ctx, tuning.EvalSpec{
		TaskType: crucible.TaskInstruct, BaseDir: "models/base", ModelDir: res.OutDir, TestPath: "test.jsonl",
	})
	switch {
	case err != nil:
		fmt.Println(err)
	case ev.Failure != "":
		fmt.Println("rejected:", ev.Failure)
	default:
		fmt.Printf("test loss %.4f over %d tokens\n", ev.Loss, ev.Tokens)
	}
}
