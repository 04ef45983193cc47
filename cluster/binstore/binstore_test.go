package binstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStageCommitVerify(t *testing.T) {
	s, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("some binary")
	sum := sha256.Sum256(content)
	st, err := s.Stage(bytes.NewReader(content), &sum)
	if err != nil {
		t.Fatal(err)
	}
	if st.SHA256 != sum || st.Size != int64(len(content)) {
		t.Errorf("staged %x %d", st.SHA256, st.Size)
	}
	if s.Has(sum) {
		t.Error("staged binary visible before commit")
	}
	p, err := st.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != st.Hex() || !s.Has(sum) {
		t.Errorf("committed as %s", p)
	}
	if got, err := s.Path(sum); err != nil || got != p {
		t.Errorf("Path: %s %v", got, err)
	}
	// Corrupt it on disk: Path refuses and removes it.
	if err := os.WriteFile(p, []byte("tampered"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Path(sum); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("Path of a corrupt binary: %v", err)
	}
	if s.Has(sum) {
		t.Error("corrupt binary kept")
	}
	if _, err := s.Path(sum); !errors.Is(err, ErrNotFound) {
		t.Errorf("Path of a missing binary: %v", err)
	}
}

func TestStageRefuses(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 16)
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("other"))
	cases := []struct {
		name string
		body []byte
		want *[32]byte
		err  error
	}{
		{"too large", bytes.Repeat([]byte("x"), 17), nil, ErrTooLarge},
		{"empty", nil, nil, ErrNotExecutable},
		{"hash mismatch", []byte("abc"), &other, ErrHashMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Stage(bytes.NewReader(c.body), c.want); !errors.Is(err, c.err) {
				t.Errorf("err %v, want %v", err, c.err)
			}
		})
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("refused stages left %d files", len(es))
	}
}

func TestFetchVerifiesHash(t *testing.T) {
	good := []byte("the real binary")
	sum := sha256.Sum256(good)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a different binary"))
	}))
	defer liar.Close()
	honest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || !strings.HasSuffix(r.URL.Path, "/v1/binaries/"+hexOf(sum)) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(good)
	}))
	defer honest.Close()
	s, _ := Open(t.TempDir(), 0)
	_, err := s.Fetch(context.Background(), liar.Client(), "tok", sum, []string{liar.URL})
	if !errors.Is(err, ErrHashMismatch) {
		t.Errorf("fetch from a peer serving other content: %v", err)
	}
	if s.Has(sum) {
		t.Error("mismatched content stored")
	}
	p, err := s.Fetch(context.Background(), honest.Client(), "tok", sum, []string{liar.URL, honest.URL})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, good) {
		t.Errorf("fetched %q", b)
	}
	if _, err := s.Fetch(context.Background(), nil, "", [32]byte{1}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("fetch with no peers: %v", err)
	}
}

func hexOf(b [32]byte) string { return (&Staged{SHA256: b}).Hex() }

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(self); err != nil {
		t.Fatalf("the test binary itself: %v", err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	selfBytes, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(selfBytes)
	binary.LittleEndian.PutUint16(other[18:], 183) // EM_AARCH64
	if runtime.GOARCH == "arm64" {
		binary.LittleEndian.PutUint16(other[18:], 62) // EM_X86_64
	}
	obj := bytes.Clone(selfBytes)
	binary.LittleEndian.PutUint16(obj[16:], 1) // ET_REL
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"other arch", other, "this node is linux/" + runtime.GOARCH},
		{"object file", obj, "not an executable"},
		{"mach-o", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 64)...), "Mach-O"},
		{"windows", append([]byte("MZ"), make([]byte, 64)...), "Windows"},
		{"script", []byte("#!/bin/sh\n"), "script"},
		{"text", []byte("hello"), "not an executable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckExecutable(writeFile(t, c.body))
			if !errors.Is(err, ErrNotExecutable) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
	// A darwin node refuses a Linux binary.
	if err := checkExecutable(self, "darwin", "arm64"); !errors.Is(err, ErrNotExecutable) {
		t.Errorf("linux binary on darwin: %v", err)
	}
}

func script(t *testing.T, body string) string {
	t.Helper()
	return writeFile(t, []byte("#!/bin/sh\n"+body+"\n"))
}

const validSpec = `{"version":1,"name":"t","config":{"guarantee":"at-least-once","message_timeout":"30s","max_spout_pending":1000,"ackers":1,"workers":1,"max_parallelism":128,"queue_size":1024,"batch_size":64,"flush_interval":"1ms","checkpoint_interval":"1s","shutdown_timeout":"10s"},"components":[{"id":"s","kind":"spout","parallelism":1,"tasks":[1],"outputs":[{"id":"default","fields":["x"]}]}]}`

func TestReadSpec(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec, err := ReadSpec(context.Background(), script(t, `[ "$1" = spec ] || exit 9; pwd; echo '`+validSpec+`'`), dir, 0)
	if err == nil {
		t.Fatalf("pwd output accepted as spec: %+v", spec)
	}
	spec, err = ReadSpec(context.Background(), script(t, `[ "$1" = spec ] || exit 9; [ "$(pwd)" = "`+dir+`" ] || exit 8; echo '`+validSpec+`'`), dir, 0)
	if err != nil || spec.Name != "t" || len(spec.Components) != 1 {
		t.Fatalf("valid spec: %+v %v", spec, err)
	}
	cases := []struct {
		name, body string
		timeout    time.Duration
		want       string
	}{
		{"fails", `echo boom >&2; exit 1`, 0, "boom"},
		{"prints nothing", `exit 0`, 0, "printed no topology spec"},
		{"not json", `echo hello`, 0, "printed no topology spec"},
		{"invalid spec", `echo '{"version":1,"name":"t","components":[]}'`, 0, "invalid spec"},
		{"hangs", `exec sleep 30`, 300 * time.Millisecond, "did not finish within 300ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := ReadSpec(context.Background(), script(t, c.body), dir, c.timeout)
			if !errors.Is(err, ErrNotTopology) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha256.Sum256([]byte("bin"))
	if err := VerifySignature(pub, sum, Sign(priv, sum)); err != nil {
		t.Errorf("valid: %v", err)
	}
	if err := VerifySignature(pub, sum, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("missing: %v", err)
	}
	other := sha256.Sum256([]byte("other"))
	if err := VerifySignature(pub, other, Sign(priv, sum)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other content: %v", err)
	}
}
