package binstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"debug/elf"
	"debug/macho"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/gale-stream/gale/topology"
)

// DefaultSpecTimeout bounds how long [ReadSpec] lets a binary run.
const DefaultSpecTimeout = 10 * time.Second

var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"386":     elf.EM_386,
	"arm":     elf.EM_ARM,
	"riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
}

var machoCPUs = map[string]macho.Cpu{
	"amd64": macho.CpuAmd64,
	"arm64": macho.CpuArm64,
}

// CheckExecutable returns nil if path is an executable for this platform
// (runtime.GOOS and runtime.GOARCH), and an error wrapping ErrNotExecutable
// that says what it is otherwise.
func CheckExecutable(path string) error {
	return checkExecutable(path, runtime.GOOS, runtime.GOARCH)
}

func checkExecutable(path, goos, goarch string) error {
	switch goos {
	case "linux", "freebsd", "netbsd", "openbsd":
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("%w: want an ELF executable for %s/%s, %s", ErrNotExecutable, goos, goarch, describe(path))
		}
		defer f.Close()
		want, ok := elfMachines[goarch]
		if !ok {
			return fmt.Errorf("%w: unsupported architecture %s", ErrNotExecutable, goarch)
		}
		if f.Machine != want {
			return fmt.Errorf("%w: ELF binary for %s, this node is %s/%s", ErrNotExecutable, f.Machine, goos, goarch)
		}
		if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
			return fmt.Errorf("%w: ELF file of type %s is not an executable", ErrNotExecutable, f.Type)
		}
		return nil
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			return fmt.Errorf("%w: want a Mach-O executable for %s/%s, %s", ErrNotExecutable, goos, goarch, describe(path))
		}
		defer f.Close()
		if want := machoCPUs[goarch]; f.Cpu != want {
			return fmt.Errorf("%w: Mach-O binary for %s, this node is %s/%s", ErrNotExecutable, f.Cpu, goos, goarch)
		}
		if f.Type != macho.TypeExec {
			return fmt.Errorf("%w: Mach-O file is not an executable", ErrNotExecutable)
		}
		return nil
	default:
		return fmt.Errorf("%w: nodes on %s are not supported", ErrNotExecutable, goos)
	}
}

// describe says what kind of file path looks like, for error messages.
func describe(path string) string {
	b := make([]byte, 8)
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	n, _ := f.Read(b)
	b = b[:n]
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "got an ELF file of another kind"
	case bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return "got a Mach-O (macOS) binary"
	case bytes.HasPrefix(b, []byte("MZ")):
		return "got a Windows (PE) binary"
	case bytes.HasPrefix(b, []byte("#!")):
		return "got a script"
	default:
		return "got a file that is not an executable"
	}
}

// ReadSpec runs the binary at path with the argument `spec` in the scratch
// directory dir (which must exist), for at most timeout (0 means
// [DefaultSpecTimeout]), and returns the topology spec it prints, validated.
// Failures wrap ErrNotTopology and quote the end of the binary's stderr.
func ReadSpec(ctx context.Context, path, dir string, timeout time.Duration) (topology.Spec, error) {
	if timeout <= 0 {
		timeout = DefaultSpecTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = 4<<20, 4<<10
	cmd := exec.CommandContext(ctx, path, "spec")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var spec topology.Spec
	if ctx.Err() != nil {
		return spec, fmt.Errorf("%w: `%s spec` did not finish within %v", ErrNotTopology, "binary", timeout)
	}
	if err != nil {
		return spec, fmt.Errorf("%w: `spec` failed: %v%s", ErrNotTopology, err, quote(stderr.String()))
	}
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, fmt.Errorf("%w: `spec` printed no topology spec (%v); does its main call gale.Main?", ErrNotTopology, err)
	}
	if err := spec.Validate(); err != nil {
		return spec, fmt.Errorf("%w: invalid spec: %w", ErrNotTopology, err)
	}
	return spec, nil
}

func quote(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return ": " + s
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// VerifySignature checks sig, an ed25519 signature of the raw 32-byte
// sha256, against key. It returns an error wrapping ErrBadSignature if sig
// is empty or does not verify.
func VerifySignature(key ed25519.PublicKey, sum [32]byte, sig []byte) error {
	if len(sig) == 0 {
		return fmt.Errorf("%w: this node accepts only signed binaries", ErrBadSignature)
	}
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, sum[:], sig) {
		return fmt.Errorf("%w: signature does not verify with the trusted key", ErrBadSignature)
	}
	return nil
}

// Sign signs the sha256 of a binary with key, for [VerifySignature].
func Sign(key ed25519.PrivateKey, sum [32]byte) []byte { return ed25519.Sign(key, sum[:]) }
