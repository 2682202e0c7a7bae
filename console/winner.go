package console

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
)

// DownloadConfig configures "crucible tasks download". Each field's doc
// comment is its documentation (package config).
type DownloadConfig struct {
	Conn
	// Output is the file to write; empty means crucible-TASK.tar
	// (crucible-TASK-merged.tar with --merged).
	Output string `flag:"output" short:"o"`
	// Format is tar or tar.gz. Defaults to `tar`.
	Format string `flag:"format"`
	// Merged downloads a LoRA winner merged into its base as a full model.
	Merged bool `flag:"merged"`
}

// Download writes task's winner (named by a prefix of its ID) to
// cfg.Output, through a .part file so that a broken download leaves no
// truncated archive, and says where on out.
func Download(ctx context.Context, cfg *DownloadConfig, task string, out io.Writer) error {
	c, err := cfg.Client()
	if err != nil {
		return err
	}
	if cfg.Format != "tar" && cfg.Format != "tar.gz" {
		return crucible.Errorf(crucible.EINVALID, "--format %q: want tar or tar.gz", cfg.Format)
	}
	t, err := c.Task(ctx, task) // the whole ID, when given a prefix
	if err != nil {
		return err
	}
	folder := "crucible-" + t.ID
	if cfg.Merged {
		folder += "-merged"
	}
	output := cfg.Output
	if output == "" {
		output = folder + "." + cfg.Format
	}
	tmp := output + ".part"
	file, err := os.Create(tmp)
	if err != nil {
		return err
	}
	n, err := c.DownloadWinner(ctx, t.ID, api.DownloadOptions{Format: cfg.Format, Merged: cfg.Merged}, file)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, output); err != nil {
		return err
	}
	return cfg.Print(out, map[string]any{"path": output, "bytes": n}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "wrote %s (%s bytes); unpack with: tar -xf %s (it makes the folder %s)\n", output, HumanInt(n), output, folder)
		return err
	})
}

// PushConfig configures "crucible tasks push". Each field's doc comment is
// its documentation (package config).
type PushConfig struct {
	Conn
	// Repo is the repository to push to, ORG/NAME (created when missing).
	Repo string `flag:"repo"`
	// Private creates the repository private.
	Private bool `flag:"private"`
	// Merged pushes a LoRA winner merged into its base as a full model.
	Merged bool `flag:"merged"`
	// Endpoint is the hub's URL; empty means HF_ENDPOINT, else
	// https://huggingface.co.
	Endpoint string `flag:"endpoint"`
}

// Push downloads task's winner and pushes it to the hub with its model
// card, showing the upload on errw and the result on out.
func Push(ctx context.Context, cfg *PushConfig, task string, out, errw io.Writer) error {
	if cfg.Repo == "" {
		return crucible.Errorf(crucible.EINVALID, "--repo is required")
	}
	hc := hub.NewClient()
	if cfg.Endpoint != "" {
		hc.Endpoint = cfg.Endpoint
	}
	if hc.Token == "" {
		// Checked before the download, which may be large.
		_, err := hc.Push(ctx, hub.Model, cfg.Repo, "", hub.PushOptions{})
		return err
	}
	c, err := cfg.Client()
	if err != nil {
		return err
	}
	t, err := c.Task(ctx, task)
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
	_, err = c.DownloadWinner(ctx, t.ID, api.DownloadOptions{Merged: cfg.Merged}, file)
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
	bars := NewTransfers(errw, IsTerminal(errw), "uploading")
	hc.Progress = bars.Update
	res, err := hc.Push(ctx, hub.Model, cfg.Repo, filepath.Join(work, "out", entries[0].Name()),
		hub.PushOptions{Private: cfg.Private, Message: fmt.Sprintf("Upload the winner of crucible task %s", t.ID)})
	bars.Close()
	if err != nil {
		return err
	}
	return cfg.Print(out, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "pushed %d files to %s (commit %s; %d large files sent, %d already there)\n",
			res.Files, res.URL, ShortID(res.Commit), len(res.Uploaded), len(res.Reused))
		return err
	})
}
