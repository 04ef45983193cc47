package binstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxSize is the largest binary a [Store] accepts by default.
const DefaultMaxSize = 512 << 20

// Store is a content-addressed directory of binaries. It is safe for
// concurrent use: writes go through temporary files and renames.
type Store struct {
	dir     string
	maxSize int64
}

// Open opens (creating if needed) the store in dir. maxSize bounds a
// binary's size; 0 means [DefaultMaxSize].
func Open(dir string, maxSize int64) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("binstore: open %s: %w", dir, err)
	}
	return &Store{dir: dir, maxSize: maxSize}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// ParseHash parses a hex sha256.
func ParseHash(h string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("binstore: %q is not a hex sha256", h)
	}
	copy(out[:], b)
	return out, nil
}

// Staged is a binary written to the store's directory but not yet named by
// its hash: the caller checks it, then calls Commit or Discard.
type Staged struct {
	s    *Store
	path string
	// SHA256 is the hash of the content.
	SHA256 [32]byte
	// Size is the content's length in bytes.
	Size int64
}

// Path returns the staged file's path, to check or run it.
func (st *Staged) Path() string { return st.path }

// Hex returns the hex sha256.
func (st *Staged) Hex() string { return hex.EncodeToString(st.SHA256[:]) }

// Commit moves the staged binary into the store and returns its path.
func (st *Staged) Commit() (string, error) {
	dst := filepath.Join(st.s.dir, st.Hex())
	if err := os.Rename(st.path, dst); err != nil {
		os.Remove(st.path)
		return "", fmt.Errorf("binstore: commit %s: %w", st.Hex(), err)
	}
	return dst, nil
}

// Discard removes the staged binary.
func (st *Staged) Discard() { os.Remove(st.path) }

// Stage writes r to a temporary file in the store while hashing it. It
// fails with ErrTooLarge past the size limit, and with ErrHashMismatch when
// want is not nil and the content hashes to something else.
func (s *Store) Stage(r io.Reader, want *[32]byte) (*Staged, error) {
	tmp, err := os.CreateTemp(s.dir, ".stage-*")
	if err != nil {
		return nil, fmt.Errorf("binstore: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	fail := func(err error) (*Staged, error) {
		os.Remove(tmp.Name())
		return nil, err
	}
	if err != nil {
		return fail(fmt.Errorf("binstore: write: %w", err))
	}
	if n > s.maxSize {
		return fail(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.maxSize))
	}
	if n == 0 {
		return fail(fmt.Errorf("%w: empty upload", ErrNotExecutable))
	}
	st := &Staged{s: s, path: tmp.Name(), Size: n}
	copy(st.SHA256[:], h.Sum(nil))
	if want != nil && *want != st.SHA256 {
		return fail(fmt.Errorf("%w: content is %s, expected %s", ErrHashMismatch, st.Hex(), hex.EncodeToString(want[:])))
	}
	if err := os.Chmod(st.path, 0o700); err != nil {
		return fail(fmt.Errorf("binstore: %w", err))
	}
	return st, nil
}

// Has reports whether the store holds the binary (without verifying it).
func (s *Store) Has(sum [32]byte) bool {
	_, err := os.Stat(filepath.Join(s.dir, hex.EncodeToString(sum[:])))
	return err == nil
}

// Open opens a stored binary for reading, or returns ErrNotFound.
func (s *Store) Open(sum [32]byte) (*os.File, error) {
	f, err := os.Open(filepath.Join(s.dir, hex.EncodeToString(sum[:])))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %x", ErrNotFound, sum)
	}
	if err != nil {
		return nil, fmt.Errorf("binstore: %w", err)
	}
	return f, nil
}

// Path verifies the stored binary against its hash and returns its path. A
// binary whose content no longer matches is removed and reported with
// ErrHashMismatch.
func (s *Store) Path(sum [32]byte) (string, error) {
	f, err := s.Open(sum)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("binstore: read %x: %w", sum, err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		os.Remove(f.Name())
		return "", fmt.Errorf("%w: stored binary %x is corrupt, removed", ErrHashMismatch, sum)
	}
	return f.Name(), nil
}

// Fetch downloads the binary from the first of peers (API base URLs such as
// http://10.0.0.2:7070) that has it, verifies its hash, and stores it. It
// returns the stored path. A binary already stored is not fetched again.
func (s *Store) Fetch(ctx context.Context, client *http.Client, token string, sum [32]byte, peers []string) (string, error) {
	if p, err := s.Path(sum); err == nil {
		return p, nil
	}
	if client == nil {
		client = http.DefaultClient
	}
	hexSum := hex.EncodeToString(sum[:])
	var errs []error
	for _, peer := range peers {
		p, err := s.fetchOne(ctx, client, token, sum, strings.TrimRight(peer, "/")+"/v1/binaries/"+url.PathEscape(hexSum))
		if err == nil {
			return p, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", peer, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("%w: %s: no peer to fetch from", ErrNotFound, hexSum)
	}
	return "", fmt.Errorf("binstore: fetch %s: %w", hexSum, errors.Join(errs...))
}

func (s *Store) fetchOne(ctx context.Context, client *http.Client, token string, sum [32]byte, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	st, err := s.Stage(resp.Body, &sum)
	if err != nil {
		return "", err
	}
	return st.Commit()
}
