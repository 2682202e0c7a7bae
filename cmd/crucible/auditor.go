package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
	"github.com/spf13/cobra"
)

func init() { register(newAuditorCmd) }

// auditorSettings configure "crucible auditor".
type auditorSettings struct {
	Validator       string        `flag:"validator" help:"base URL of the validator to audit (required)"`
	ValidatorHotkey string        `flag:"validator-hotkey" help:"SS58 hotkey of that validator (required)"`
	Chain           string        `flag:"chain" help:"URL of the \"crucible chain\"; empty skips the on-chain comparison and setting weights"`
	Key             string        `flag:"key" help:"this auditor's hotkey file, for setting its own weights. Defaults to $CRUCIBLE_HOME/keys/auditor.json"`
	Assets          string        `flag:"assets" help:"directory of shipped models, found by name. Defaults to assets/models, or the models inside this binary when there is none"`
	Sample          int           `flag:"sample" help:"submissions re-evaluated per audit. Defaults to 3"`
	Stake           float64       `flag:"stake" help:"stake (TAO) added to the auditor's hotkey at start, on a local chain, so it can set weights. Defaults to 0"`
	MinCosine       float64       `flag:"min-cosine" help:"on-chain weights less similar than this to the published ones are flagged. Defaults to 0.98"`
	Every           time.Duration `flag:"every" help:"audit again after this long; 0 audits once and exits. Defaults to 0"`
	JSON            bool          `flag:"json" help:"print the report as JSON"`
}

func newAuditorCmd() *cobra.Command {
	cfg := &auditorSettings{Key: filepath.Join(crucibleHome(), "keys", "auditor.json"), Assets: defaultAssets, Sample: 3, MinCosine: 0.98}
	cmd := &cobra.Command{
		Use:   "auditor",
		Short: "Audit a validator: verify its results log, recompute weights, re-run evaluations",
		Long: `auditor re-checks a validator from the outside. It reads the validator's
public results log, verifies the hash chain and every signature, recomputes
each published weight vector from the logged results with the same scoring
code, compares the validator's weights on chain with what it published,
re-runs the evaluation of a random sample of submissions (each loss must match
exactly: the evaluator is deterministic), reports every discrepancy, and sets
its own weights from its own recomputation. Exit status 1 when it found any.`,
		Args: cobra.NoArgs,
	}
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		if err := cfg.validate(); err != nil {
			return err
		}
		return runAuditor(cmd.Context(), cfg)
	}
	return cmd
}

// validate checks the flags that need no network: the validator's URL and
// hotkey, so a typo is reported as such rather than as a failed request.
func (cfg *auditorSettings) validate() error {
	var missing []string
	if cfg.Validator == "" {
		missing = append(missing, "--validator")
	}
	if cfg.ValidatorHotkey == "" {
		missing = append(missing, "--validator-hotkey")
	}
	if len(missing) > 0 {
		verb := "are"
		if len(missing) == 1 {
			verb = "is"
		}
		return crucible.Errorf(crucible.EINVALID, "%s %s required", strings.Join(missing, " and "), verb).
			WithHint("e.g. crucible auditor --validator http://127.0.0.1:8090 --validator-hotkey 5F… (the validator prints both when it starts)")
	}
	if u, err := url.Parse(cfg.Validator); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return crucible.Errorf(crucible.EINVALID, "--validator %q is not an http(s) URL", cfg.Validator).
			WithHint("pass the validator's base URL, e.g. http://127.0.0.1:8090")
	}
	if err := checkSS58(cfg.ValidatorHotkey); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--validator-hotkey %q is not an SS58 address: %v", cfg.ValidatorHotkey, err)
	}
	return nil
}

func runAuditor(ctx context.Context, cfg *auditorSettings) error {
	models, err := shippedModels(cfg.Assets, filepath.Join(crucibleHome(), "assets"))
	if err != nil {
		return err
	}
	cfg.Assets = models
	deps := auditor.Deps{Source: &auditor.HTTPSource{Base: cfg.Validator}, Eval: auditEvaluator{},
		Models: newModelResolver(cfg.Assets), Verify: sign.VerifySignature}
	if cfg.Chain != "" {
		key, err := loadOrCreateKey(cfg.Key)
		if err != nil {
			return err
		}
		ch, _, err := openChain(cfg.Chain, key)
		if err != nil {
			return err
		}
		if _, err := ch.Register(ctx, key.Address(), key.Address()); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
			return fmt.Errorf("register the auditor's hotkey: %w", err)
		}
		if cfg.Stake > 0 {
			if err := ch.AddStake(ctx, key.Address(), cfg.Stake); err != nil {
				return fmt.Errorf("stake: %w", err)
			}
		}
		deps.OnChain = func(ctx context.Context) (map[string]float64, error) {
			return weightsOnChain(ctx, ch, cfg.ValidatorHotkey)
		}
		deps.Setter = chainWeights{chain: ch, hotkey: key.Address()}
	}
	a, err := auditor.New(auditor.Config{ValidatorHotkey: cfg.ValidatorHotkey, MinCosine: cfg.MinCosine, Sample: cfg.Sample,
		Seed: uint64(time.Now().UnixNano())}, deps)
	if err != nil {
		return err
	}
	for {
		r, err := a.Audit(ctx)
		if err != nil {
			var netErr *net.OpError
			if errors.As(err, &netErr) {
				return crucible.Wrap(err, crucible.EINTERNAL, "audit %s", cfg.Validator).
					WithHint("is the validator running there? check --validator")
			}
			return err
		}
		printAudit(r, cfg.JSON)
		if cfg.Every <= 0 {
			if !r.OK() {
				return exitError{code: 1}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Every):
		}
	}
}

func printAudit(r *auditor.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
		return
	}
	fmt.Printf("results log: %d entries, %d tasks, %d weight vectors\n", r.Entries, r.Tasks, r.WeightSets)
	for _, re := range r.Reevaluated {
		mark := "ok"
		if !re.Match {
			mark = "MISMATCH"
		}
		fmt.Printf("re-evaluated %s / %s: logged %.6f, recomputed %.6f  %s\n", re.TaskID, re.Hotkey, re.Logged, re.Recomputed, mark)
	}
	if r.OnChainCosine != nil {
		fmt.Printf("on-chain weights vs published: cosine %.4f\n", *r.OnChainCosine)
	}
	if r.WeightsError != "" {
		fmt.Printf("could not set the auditor's own weights: %s\n", r.WeightsError)
	} else if r.WeightsBlock > 0 {
		fmt.Printf("auditor's own weights set at block %d\n", r.WeightsBlock)
	}
	if r.OK() {
		fmt.Println("no discrepancies")
		return
	}
	fmt.Printf("%d discrepancies:\n", len(r.Discrepancies))
	for _, d := range r.Discrepancies {
		where := ""
		if d.Seq > 0 {
			where = fmt.Sprintf("entry %d: ", d.Seq)
		}
		if d.TaskID != "" {
			where += "task " + d.TaskID + ": "
		}
		fmt.Printf("  %s%s\n", where, d.Message)
	}
}
