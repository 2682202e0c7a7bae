package auditor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Source is where an auditor reads a validator's results log and the
// artifacts of finished tasks.
type Source interface {
	// Results returns up to a page of entries with Seq after after, in order.
	Results(ctx context.Context, after int64) ([]*crucible.ResultEntry, error)
	// Artifact opens a finished task's test split or submitted result.
	Artifact(ctx context.Context, key string) (io.ReadCloser, error)
}

// HTTPSource reads a validator's public endpoints (validator.ResultsHandler).
type HTTPSource struct {
	Base   string // the validator's base URL
	Key    string // an API key of the validator, sent with artifact requests ("" for none)
	Client *http.Client
}

func (s *HTTPSource) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return http.DefaultClient
}

// Results implements Source.
func (s *HTTPSource) Results(ctx context.Context, after int64) ([]*crucible.ResultEntry, error) {
	u := fmt.Sprintf("%s/v1/results?after=%d", strings.TrimRight(s.Base, "/"), after)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("read results log: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, api.ResponseError(resp)
	}
	var out []*crucible.ResultEntry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("read results log: %w", err)
	}
	return out, nil
}

// Artifact implements Source.
func (s *HTTPSource) Artifact(ctx context.Context, key string) (io.ReadCloser, error) {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	u := strings.TrimRight(s.Base, "/") + "/v1/results/artifacts/" + strings.Join(parts, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if s.Key != "" {
		req.Header.Set("Authorization", "Bearer "+s.Key)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, api.ResponseError(resp)
	}
	return resp.Body, nil
}

// readAll reads the whole log, page by page.
func readAll(ctx context.Context, src Source) ([]*crucible.ResultEntry, error) {
	var all []*crucible.ResultEntry
	after := int64(0)
	for {
		page, err := src.Results(ctx, after)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return all, nil
		}
		all = append(all, page...)
		next := page[len(page)-1].Seq
		if next <= after {
			return nil, fmt.Errorf("results log does not advance past entry %d", after)
		}
		after = next
	}
}
