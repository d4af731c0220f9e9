// Package proc runs the shipped binaries (manager, graphsim) as child
// processes the way a cluster would, for the end-to-end test and the chaos
// suite: build them, start them with captured output, stop them gently or
// kill -9 them, and give them a kubeconfig of their own.
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Build compiles the given main packages of the module at root into
// dir/bin and returns that directory.
func Build(root, dir string, pkgs ...string) (string, error) {
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return bin, nil
}

// Process is a running child. Its stdout is readable once (Stdout, e.g. for
// ReadVars) and, like stderr, captured in full for Output.
type Process struct {
	cmd    *exec.Cmd
	Stdout io.Reader
	log    *Buffer
	done   chan struct{}
	err    error
}

// Start runs path with args; env is added to this process's environment.
// extra, when not nil, also receives everything the process writes.
func Start(path string, env []string, extra io.Writer, args ...string) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttrs()
	pr, pw := io.Pipe()
	p := &Process{cmd: cmd, log: &Buffer{}, done: make(chan struct{}), Stdout: pr}
	var out io.Writer = p.log
	if extra != nil {
		out = io.MultiWriter(p.log, extra)
	}
	cmd.Stdout = io.MultiWriter(pw, out)
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	go func() {
		p.err = cmd.Wait()
		_ = pw.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid of the process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is how the process ended; valid once Done is closed.
func (p *Process) ExitErr() error { return p.err }

// Output is everything the process wrote so far (stdout and stderr).
func (p *Process) Output() string { return p.log.String() }

// Stop interrupts the process and kills it if it has not exited after 15 s.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
	}
}

// Kill is kill -9, and waits for the exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ReadVars reads KEY=VALUE lines from r until the line whose key is last,
// then keeps draining r so the writer never blocks on a full pipe.
func ReadVars(r io.Reader, last string, timeout time.Duration) (map[string]string, error) {
	type result struct {
		vars map[string]string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		vars := map[string]string{}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				vars[k] = v
				if k == last {
					ch <- result{vars: vars}
					_, _ = io.Copy(io.Discard, r)
					return
				}
			}
		}
		ch <- result{err: fmt.Errorf("output ended before %s", last)}
	}()
	select {
	case res := <-ch:
		return res.vars, res.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("no %s line within %s", last, timeout)
	}
}

// FreeAddr returns a loopback host:port nobody listens on right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Kubeconfig provisions an envtest user (client certificate) and writes its
// kubeconfig into dir, returning the file's path.
func Kubeconfig(env *envtest.Environment, dir, name string, groups ...string) (string, error) {
	u, err := env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", err
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, strings.NewReplacer(":", "_").Replace(name)+".kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
