package server

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// httpHandler serves PUT (with a signed slot URL), GET and HEAD on
// /upload/<id>/<filename>.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /upload/{id}/{name}", s.handlePut)
	mux.HandleFunc("GET /upload/{id}/{name}", s.handleGet)
	return mux
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	fail := func(code int, reason, msg string) {
		s.m.uploadsRefused.WithLabelValues(reason).Inc()
		http.Error(w, msg, code)
	}
	if !validID(id) {
		fail(http.StatusNotFound, "bad-url", "no such slot")
		return
	}
	sl, err := s.sign.verify(id, name, r.URL.Query(), time.Now())
	switch {
	case errors.Is(err, errExpired):
		fail(http.StatusForbidden, "expired", err.Error())
		return
	case err != nil:
		fail(http.StatusForbidden, "bad-signature", err.Error())
		return
	}
	if r.ContentLength < 0 {
		fail(http.StatusLengthRequired, "no-length", "Content-Length is required")
		return
	}
	if r.ContentLength != sl.Size {
		fail(http.StatusBadRequest, "size", "Content-Length "+strconv.FormatInt(r.ContentLength, 10)+" differs from the slot's size "+strconv.FormatInt(sl.Size, 10))
		return
	}
	if ct := r.Header.Get("Content-Type"); !sameMediaType(ct, sl.ContentType) {
		fail(http.StatusBadRequest, "content-type", "Content-Type "+ct+" differs from the slot's "+sl.ContentType)
		return
	}
	body := http.MaxBytesReader(w, r.Body, sl.Size)
	meta := fileMeta{Filename: sl.Filename, ContentType: sl.ContentType, Size: sl.Size, Created: time.Now()}
	if err := s.files.put(id, meta, body); err != nil {
		if errors.Is(err, errExists) {
			fail(http.StatusConflict, "exists", err.Error())
			return
		}
		s.log.Warn("upload failed", zap.String("id", id), zap.Error(err))
		fail(http.StatusBadRequest, "incomplete", "upload failed")
		return
	}
	s.m.uploads.Inc()
	s.m.uploadedBytes.Add(float64(sl.Size))
	w.WriteHeader(http.StatusCreated)
}

// sameMediaType compares content types ignoring parameters and case.
func sameMediaType(a, b string) bool {
	ma, _, err := mime.ParseMediaType(a)
	if err != nil {
		return false
	}
	mb, _, err := mime.ParseMediaType(b)
	return err == nil && ma == mb
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	f, meta, err := s.files.open(id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("download failed", zap.String("id", id), zap.Error(err))
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if r.PathValue("name") != meta.Filename {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", meta.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": meta.Filename}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	s.m.downloads.Inc()
	http.ServeContent(w, r, "", meta.Created, f)
}
