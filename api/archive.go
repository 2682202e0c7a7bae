package api

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Model directories (base models going to miners, results coming back,
// winners going to customers) travel as plain tar archives of their files.
// Archives are deterministic: files sorted by name, fixed times and modes, so
// the same directory always gives the same bytes and the same sha256.

// archiveTime is the modification time written for every entry.
var archiveTime = time.Unix(0, 0).UTC()

// WriteTar writes the regular files under dir (recursively; symlinks are
// followed, other special files are skipped) to w as a tar archive.
func WriteTar(w io.Writer, dir string) error { return WriteTarUnder(w, dir, "") }

// WriteTarUnder is WriteTar with every entry inside one top-level folder
// named folder (none when ""), so that unpacking the archive makes that one
// folder instead of spilling files into the current directory.
func WriteTarUnder(w io.Writer, dir, folder string) error {
	if folder != "" && (strings.ContainsAny(folder, `/\`) || folder == "." || folder == "..") {
		return fmt.Errorf("archive %s: folder %q is not one plain name", dir, folder)
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .cache and the like
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	sort.Strings(files)
	tw := tar.NewWriter(w)
	if folder != "" {
		if err := tw.WriteHeader(&tar.Header{Name: folder + "/", Mode: 0o755, ModTime: archiveTime, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(rel)
		if folder != "" {
			name = folder + "/" + name
		}
		if err := addFile(tw, p, name); err != nil {
			return fmt.Errorf("archive %s: %w", dir, err)
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, p, name string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: archiveTime, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ExtractLimits bounds what ExtractTar accepts.
type ExtractLimits struct {
	MaxFiles int   // defaults to 1000
	MaxBytes int64 // total size of all files; defaults to 64 GiB
}

// ErrUnsafeArchive is returned for entries that would escape the target
// directory or are not plain files and directories.
var ErrUnsafeArchive = errors.New("unsafe archive entry")

// ExtractTar unpacks a tar archive into dir, which must exist. It accepts
// only regular files and directories with relative names that stay inside
// dir, writes them through an os.Root on dir (so that nothing, not even a
// symbolic link already there, leads out of it), and enforces lim. On
// error, files already written are left for the caller to remove with dir.
func ExtractTar(r io.Reader, dir string, lim ExtractLimits) (files int, err error) {
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = 1000
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 64 << 30
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	var total, lastEnd int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// A complete archive ends with zero blocks; without them the
			// stream was cut off between two entries.
			if cr.n-lastEnd < 512 {
				return files, fmt.Errorf("read archive: %w (no end-of-archive marker)", io.ErrUnexpectedEOF)
			}
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(hdr.Name) ||
			strings.ContainsAny(hdr.Name, "\\\x00") || !filepath.IsLocal(filepath.FromSlash(name)) {
			return files, fmt.Errorf("%w: %q", ErrUnsafeArchive, hdr.Name)
		}
		target := filepath.FromSlash(name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(target, 0o755); err != nil {
				return files, fmt.Errorf("%w: %q: %v", ErrUnsafeArchive, hdr.Name, err)
			}
			lastEnd = cr.n
			continue
		case tar.TypeReg:
		default:
			return files, fmt.Errorf("%w: %q is not a regular file", ErrUnsafeArchive, hdr.Name)
		}
		files++
		total += hdr.Size
		if files > lim.MaxFiles {
			return files, fmt.Errorf("archive has more than %d files", lim.MaxFiles)
		}
		if hdr.Size < 0 || total > lim.MaxBytes {
			return files, fmt.Errorf("archive is larger than %d bytes", lim.MaxBytes)
		}
		if d := filepath.Dir(target); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return files, fmt.Errorf("%w: %q: %v", ErrUnsafeArchive, hdr.Name, err)
			}
		}
		f, err := root.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return files, fmt.Errorf("%w: %q: %v", ErrUnsafeArchive, hdr.Name, err)
		}
		n, err := io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return files, fmt.Errorf("extract %s: %w", name, err)
		}
		if n != hdr.Size {
			return files, fmt.Errorf("extract %s: archive is truncated", name)
		}
		lastEnd = cr.n
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
