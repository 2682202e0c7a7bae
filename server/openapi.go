package server

import (
	"embed"
	"net/http"
)

// assets holds the OpenAPI document, the dashboard's templates, stylesheet
// and script: the server needs no files at run time.
//
//go:embed assets
var assets embed.FS

// openAPISpec is the hand-written OpenAPI 3 document of the API.
var openAPISpec = mustAsset("assets/openapi.json")

func mustAsset(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPISpec)
	return nil
}
