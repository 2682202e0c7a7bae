package server

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// maxExperimentResults bounds the results.json the dashboard reads.
const maxExperimentResults = 16 << 20

// experimentEntry is one experiment on the list page.
type experimentEntry struct {
	Name string
	*api.ExperimentResults
	Met, Targets int
}

// experimentsPage lists the finished (and running) experiments in the
// experiments folder: one folder each, with its results.json.
func (s *Server) experimentsPage(w http.ResponseWriter, r *http.Request) {
	if s.opt.Experiments == nil {
		s.pageError(w, r, crucible.Errorf(crucible.ENOTFOUND, "this validator publishes no experiments"))
		return
	}
	ents, err := fs.ReadDir(s.opt.Experiments, ".")
	if err != nil {
		s.pageError(w, r, crucible.Wrap(err, crucible.EINTERNAL, "experiments"))
		return
	}
	var list []experimentEntry
	for _, d := range ents {
		if !d.IsDir() || !crucible.ValidID(d.Name()) {
			continue
		}
		res, err := s.experiment(d.Name())
		if err != nil {
			continue // not an experiment's folder
		}
		e := experimentEntry{Name: d.Name(), ExperimentResults: res, Targets: len(res.Targets)}
		for _, t := range res.Targets {
			if t.Met {
				e.Met++
			}
		}
		list = append(list, e)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].Updated.After(list[b].Updated) })
	s.render(w, r, http.StatusOK, "experiments", view{Title: "Experiments", Nav: "experiments", Page: list})
}

// experimentPage shows one experiment: its charts, rounds, runs and
// targets.
func (s *Server) experimentPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	res, err := s.experimentNamed(name)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var svgs []string
	for _, c := range res.Charts {
		if strings.HasSuffix(c, ".svg") {
			svgs = append(svgs, c)
		}
	}
	s.render(w, r, http.StatusOK, "experiment", view{Title: res.Title, Nav: "experiments",
		Page: map[string]any{"Name": name, "R": res, "SVGs": svgs}})
}

// experimentChart serves one of an experiment's charts: only the files its
// results name as charts, as images that cannot run anything.
func (s *Server) experimentChart(w http.ResponseWriter, r *http.Request) {
	name, file := r.PathValue("name"), r.PathValue("file")
	res, err := s.experimentNamed(name)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	ctype := map[string]string{".svg": "image/svg+xml", ".png": "image/png"}[path.Ext(file)]
	if !slices.Contains(res.Charts, file) || ctype == "" || path.Base(file) != file {
		s.pageError(w, r, crucible.Errorf(crucible.ENOTFOUND, "experiment %s has no chart %q", name, file))
		return
	}
	f, err := s.opt.Experiments.Open(name + "/" + file)
	if err != nil {
		s.pageError(w, r, crucible.Errorf(crucible.ENOTFOUND, "experiment %s has no chart %q", name, file))
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	io.Copy(w, io.LimitReader(f, maxExperimentResults))
}

// experimentNamed reads the experiment in folder name (ENOTFOUND when
// there is none).
func (s *Server) experimentNamed(name string) (*api.ExperimentResults, error) {
	if s.opt.Experiments == nil || !crucible.ValidID(name) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no experiment %q", name)
	}
	res, err := s.experiment(name)
	if err != nil {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no experiment %q", name)
	}
	return res, nil
}

func (s *Server) experiment(name string) (*api.ExperimentResults, error) {
	f, err := s.opt.Experiments.Open(name + "/results.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var res api.ExperimentResults
	if err := json.NewDecoder(io.LimitReader(f, maxExperimentResults)).Decode(&res); err != nil {
		return nil, err
	}
	if res.Kind != api.ExperimentSeries && res.Kind != api.ExperimentPlatforms {
		return nil, crucible.Errorf(crucible.EINVALID, "not an experiment")
	}
	return &res, nil
}
