package console

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

// The web pages: one HTML page, one script and one style sheet, embedded
// in the binary, so that the console needs nothing from outside. The
// script renders every page from the JSON API in the browser and follows
// the live updates; the Content-Security-Policy that front sets allows
// only these files to run.
//
//go:embed web
var webFiles embed.FS

// webRoot is the web directory of webFiles.
var webRoot = func() fs.FS {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err)
	}
	return sub
}()

// webAssets are the files served under /static/; nothing else is.
var webAssets = map[string]bool{"app.js": true, "app.css": true}

// routeWeb adds the web pages to mux: the page at /, and its script and
// style sheet under /static/.
func routeWeb(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, webRoot, "index.html")
	})
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		if !webAssets[r.PathValue("file")] {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, webRoot, r.PathValue("file"))
	})
}

// WhoAmI is the JSON of GET /api/v1/whoami: who the viewer is, for the
// pages' header.
type WhoAmI struct {
	// User is who the viewer's token authenticates as.
	User string `json:"user"`
	// Session tells whether the viewer came with the login cookie (and
	// so may log out), rather than with an Authorization header.
	Session bool `json:"session"`
}

// whoAmI answers GET /api/v1/whoami.
func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request) {
	caller, err := s.authenticate(r)
	if err != nil {
		s.writeAuthError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(WhoAmI{User: caller.User.GetName(), Session: r.Header.Get("Authorization") == ""})
}
