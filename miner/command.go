package miner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CommandStrategy runs an external program to train, so a miner can use any
// trainer (a Python/GPU one, for instance). The contract:
//
//   - The program runs in the job's directory with these environment variables:
//     CRUCIBLE_TASK_ID, CRUCIBLE_TASK_TYPE (instruct|chat|dpo|text|grpo),
//     CRUCIBLE_MODEL (the base model's name), CRUCIBLE_MODEL_DIR (the base
//     model in Hugging Face layout), CRUCIBLE_DATA (the train split, JSONL),
//     CRUCIBLE_TOKENS (the train split as a token file: ids, loss mask and
//     sequence offsets written with the base's tokenizer, docs/tokens.md;
//     unset when the validator sent none),
//     CRUCIBLE_MAPPING (the column mapping, JSON, Gradients' field names),
//     CRUCIBLE_OUT_DIR (where to write the result), CRUCIBLE_DEADLINE
//     (RFC 3339) and CRUCIBLE_TIME_LIMIT_SECONDS; for a grpo task also
//     CRUCIBLE_REWARDS, a JSON file of the task's reward functions (score
//     completions with them by "crucible rewards score").
//   - It writes a Hugging Face directory to CRUCIBLE_OUT_DIR: config.json and
//     model.safetensors (or shards), or a PEFT adapter (adapter_config.json and
//     adapter_model.safetensors). Tokenizer files are optional.
//   - It may report progress by printing lines to stdout of the form
//     `CRUCIBLE_PROGRESS {"fraction":0.5,"step":120,"loss":1.23,"message":"..."}`
//     (a grpo trainer may add "reward", its samples' mean reward).
//     Everything else it prints goes to the job's log file.
//   - It must exit 0 before the time limit. At the limit it gets SIGTERM, and
//     SIGKILL GracePeriod later; whatever it left in CRUCIBLE_OUT_DIR is then
//     checked and uploaded if it is a complete model.
//   - When it fails (or runs out of time with no result), the last lines it
//     wrote to stderr are the job's failure reason, which the validator
//     records as the submission's.
type CommandStrategy struct {
	Argv        []string      // program and arguments
	Env         []string      // extra environment, KEY=VALUE
	GracePeriod time.Duration // between SIGTERM and SIGKILL; defaults to 5s
	// Label names the trainer in status and errors; defaults to "command:"
	// and the program.
	Label string
}

// Name implements Strategy.
func (c *CommandStrategy) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return "command:" + c.Argv[0]
}

// Train implements Strategy.
func (c *CommandStrategy) Train(ctx context.Context, job *Job, report func(Progress)) error {
	if len(c.Argv) == 0 {
		return errors.New("command strategy: no program given")
	}
	mapping, err := json.Marshal(job.Mapping)
	if err != nil {
		return err
	}
	limit := time.Until(job.Deadline)
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl)
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Dir = jobDir(job)
	cmd.Env = append(os.Environ(),
		"CRUCIBLE_TASK_ID="+job.TaskID,
		"CRUCIBLE_TASK_TYPE="+string(job.TaskType),
		"CRUCIBLE_MODEL="+job.Model,
		"CRUCIBLE_MODEL_DIR="+job.ModelDir,
		"CRUCIBLE_DATA="+job.DataPath,
		"CRUCIBLE_MAPPING="+string(mapping),
		"CRUCIBLE_OUT_DIR="+job.OutDir,
		"CRUCIBLE_DEADLINE="+job.Deadline.UTC().Format(time.RFC3339),
		"CRUCIBLE_TIME_LIMIT_SECONDS="+strconv.Itoa(max(int(limit.Seconds()), 0)),
	)
	if len(job.Rewards) > 0 {
		// A grpo task: its reward functions as JSON beside the job (see the
		// miner contract; "crucible rewards score" scores completions with them).
		b, err := json.MarshalIndent(job.Rewards, "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(cmd.Dir, "rewards.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, "CRUCIBLE_REWARDS="+path)
	}
	if !job.Hints.Empty() {
		// The customer's suggested hyperparameters, JSON (see the miner contract).
		b, _ := json.Marshal(job.Hints)
		cmd.Env = append(cmd.Env, "CRUCIBLE_HINTS="+string(b))
	}
	if job.TokensPath != "" {
		cmd.Env = append(cmd.Env, "CRUCIBLE_TOKENS="+job.TokensPath)
	}
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.SysProcAttr = procAttr()
	logFile, err := os.Create(cmd.Dir + "/command.log")
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			terminate(cmd.Process, syscall.SIGTERM)
			grace := c.GracePeriod
			if grace <= 0 {
				grace = 5 * time.Second
			}
			select {
			case <-done:
			case <-time.After(grace):
				terminate(cmd.Process, syscall.SIGKILL)
			}
		case <-done:
		}
	}()
	readProgress(stdout, logFile, report)
	err = cmd.Wait()
	close(done)
	if ctx.Err() != nil {
		// Out of time: a complete result written before the limit still counts.
		if checkResult(job.OutDir) == nil {
			return nil
		}
		return fmt.Errorf("%s did not finish before the time limit (%s): %w%s", c.name(), limit.Round(time.Second), ctx.Err(), lastLines(logFile.Name()))
	}
	if err != nil {
		return fmt.Errorf("%s failed: %w%s", c.name(), err, lastLines(logFile.Name()))
	}
	return nil
}

// name is how failures name the trainer.
func (c *CommandStrategy) name() string {
	if c.Label != "" {
		return c.Label
	}
	return c.Argv[0]
}

// lastLines returns ": " and the last lines of a trainer's log (at most 10
// lines, 1500 bytes), or "" when it wrote nothing.
func lastLines(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < 10; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			keep = append([]string{l}, keep...)
		}
	}
	s := strings.Join(keep, "\n")
	if len(s) > 1500 {
		s = s[len(s)-1500:]
	}
	if s == "" {
		return ""
	}
	return ":\n" + strings.ToValidUTF8(s, "")
}

const progressPrefix = "CRUCIBLE_PROGRESS "

func readProgress(r io.Reader, log io.Writer, report func(Progress)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, progressPrefix); ok {
			var p struct {
				Fraction float64  `json:"fraction"`
				Step     int      `json:"step"`
				Loss     *float64 `json:"loss"`
				Reward   *float64 `json:"reward"`
				Message  string   `json:"message"`
			}
			if json.Unmarshal([]byte(rest), &p) == nil {
				report(Progress{Fraction: p.Fraction, Step: p.Step, Loss: p.Loss, Reward: p.Reward, Message: p.Message})
				continue
			}
		}
		fmt.Fprintln(log, line)
	}
	io.Copy(io.Discard, r)
}
