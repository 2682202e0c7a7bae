package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/data/hub"
)

func newTasksPushCmd(f *customerFlags) *cobra.Command {
	var repo, endpoint string
	var private, merged bool
	cmd := &cobra.Command{
		Use:   "push TASK --repo ORG/NAME",
		Short: "Push a task's winner to a model hub (Hugging Face), with its model card",
		Long: `push downloads the task's winner as "tasks download" does (its weights in
the base's dtype, an adapter naming its base or, with --merged, merged into
it, and the model card) and pushes it to a repository on the hub, creating
the repository when it does not exist, in one commit. The token is HF_TOKEN
(it needs write access) and goes to the hub only; the hub is --endpoint,
else HF_ENDPOINT, else https://huggingface.co. Large files go through the
hub's LFS storage; a push broken off is resumed by running it again: files
the hub already holds are not sent twice.`,
		Example: `  HF_TOKEN=hf_... crucible tasks push 3f2a --repo alice/facts-tiny
  HF_TOKEN=hf_... crucible tasks push 3f2a --repo alice/facts-tiny-merged --merged --private`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "repo"); err != nil {
				return err
			}
			hc := hub.NewClient()
			if endpoint != "" {
				hc.Endpoint = endpoint
			}
			if hc.Token == "" {
				// Checked before the download, which may be large.
				_, err := hc.Push(cmd.Context(), hub.Model, repo, "", hub.PushOptions{})
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.Task(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "crucible-push-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			tarPath := filepath.Join(work, "winner.tar")
			file, err := os.Create(tarPath)
			if err != nil {
				return err
			}
			_, err = c.DownloadWinner(cmd.Context(), t.ID, api.DownloadOptions{Merged: merged}, file)
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(work, "out"), 0o700); err != nil {
				return err
			}
			file, err = os.Open(tarPath)
			if err != nil {
				return err
			}
			_, err = api.ExtractTar(file, filepath.Join(work, "out"), api.ExtractLimits{})
			file.Close()
			if err != nil {
				return err
			}
			entries, err := os.ReadDir(filepath.Join(work, "out"))
			if err != nil || len(entries) != 1 || !entries[0].IsDir() {
				return fmt.Errorf("push: the downloaded archive does not hold one folder")
			}
			errw := cmd.ErrOrStderr()
			bars := newTransfers(errw, isTerminal(errw), "uploading")
			hc.Progress = bars.update
			res, err := hc.Push(cmd.Context(), hub.Model, repo, filepath.Join(work, "out", entries[0].Name()),
				hub.PushOptions{Private: private, Message: fmt.Sprintf("Upload the winner of crucible task %s", t.ID)})
			bars.close()
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %d files to %s (commit %s; %d large files sent, %d already there)\n",
				res.Files, res.URL, shortID(res.Commit), len(res.Uploaded), len(res.Reused))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&repo, "repo", "", "the repository to push to, ORG/NAME (created when missing)")
	fl.BoolVar(&private, "private", false, "create the repository private")
	fl.BoolVar(&merged, "merged", false, "push a LoRA winner merged into its base as a full model")
	fl.StringVar(&endpoint, "endpoint", "", "hub URL (default HF_ENDPOINT or https://huggingface.co)")
	return cmd
}
