package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// store keeps uploaded files in one directory: the content in <id>, its
// description in <id>.json, written last so a file without one is
// incomplete.
type store struct{ dir string }

// fileMeta describes a stored file.
type fileMeta struct {
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
}

var errExists = errors.New("the file was uploaded already")

func (st *store) path(id string) string { return filepath.Join(st.dir, id) }

// put writes exactly meta.Size bytes from r as the file id. The content
// goes to a temporary file first, so a failed upload leaves nothing
// behind and a concurrent download never sees half a file.
func (st *store) put(id string, meta fileMeta, r io.Reader) error {
	if _, err := os.Stat(st.path(id) + ".json"); err == nil {
		return errExists
	}
	tmp, err := os.CreateTemp(st.dir, ".upload-"+id+"-*")
	if err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil && n != meta.Size {
		err = fmt.Errorf("got %d bytes, the slot is for %d", n, meta.Size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	if err := os.Rename(tmp.Name(), st.path(id)); err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	if err := os.WriteFile(st.path(id)+".json", b, 0o640); err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	return nil
}

// open returns the file id and its description.
func (st *store) open(id string) (*os.File, fileMeta, error) {
	var meta fileMeta
	b, err := os.ReadFile(st.path(id) + ".json")
	if err != nil {
		return nil, meta, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, meta, fmt.Errorf("file %s: %w", id, err)
	}
	f, err := os.Open(st.path(id))
	return f, meta, err
}

// sweep deletes files created before cutoff, and uploads abandoned
// half-way; it returns how many files it deleted.
func (st *store) sweep(cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return n, fmt.Errorf("sweep: %w", err)
		}
		switch {
		case strings.HasPrefix(name, ".upload-"):
			if info.ModTime().Before(time.Now().Add(-time.Hour)) {
				os.Remove(filepath.Join(st.dir, name))
			}
		case strings.HasSuffix(name, ".json"):
			if info.ModTime().Before(cutoff) {
				id := strings.TrimSuffix(name, ".json")
				os.Remove(st.path(id) + ".json")
				os.Remove(st.path(id))
				n++
			}
		}
	}
	return n, nil
}
