package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// supervisor runs the manager binary the way a Deployment does: when it
// exits (kill -9, "leader election lost" during an API server outage) it
// is started again after a short back-off. Every incarnation's output is
// kept, in memory for the canary scan and in a file for reading.
type supervisor struct {
	bin, logDir string
	env, args   []string

	mu       sync.Mutex
	cur      *proc.Process
	leading  *atomic.Bool // whether the current incarnation holds the lease
	n        int
	outputs  []*proc.Process
	exits    []string
	killed   map[int]bool
	stopping bool
	stopped  chan struct{}
}

// maxRestarts bounds the restart loop: a manager that cannot start at all
// must end the run, not spin.
const maxRestarts = 40

func newSupervisor(bin, logDir string, env []string, args ...string) *supervisor {
	return &supervisor{bin: bin, logDir: logDir, env: env, args: args, killed: map[int]bool{}, stopped: make(chan struct{})}
}

// managerVerbosity asks for the most verbose logging the binary offers:
// controller-runtime's zap level 10 (everything logged with V(n), n ≤ 10)
// and, when the binary exposes client-go's klog flag, -v=10 (request and
// response dumps).
func managerVerbosity(bin string) []string {
	args := []string{"--zap-log-level=10"}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	for _, l := range strings.Split(string(help), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "-v" || f[0] == "--v") {
			args = append(args, "-v=10")
			break
		}
	}
	return args
}

func (s *supervisor) start() error {
	if err := s.spawn(); err != nil {
		return err
	}
	go s.loop()
	return nil
}

var errStopping = errors.New("stopping")

func (s *supervisor) spawn() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errStopping
	}
	s.n++
	f, err := os.Create(filepath.Join(s.logDir, fmt.Sprintf("manager-%d.log", s.n)))
	if err != nil {
		return err
	}
	leading := &atomic.Bool{}
	p, err := proc.Start(s.bin, s.env, leaseWatch{f, leading}, s.args...)
	if err != nil {
		f.Close()
		return err
	}
	go func() { <-p.Done(); f.Close() }()
	s.cur, s.leading = p, leading
	s.outputs = append(s.outputs, p)
	return nil
}

// loop restarts the manager whenever it exits, with a back-off like a
// Deployment's (shorter, so the run fits its budget), until stop.
func (s *supervisor) loop() {
	defer close(s.stopped)
	backoff := time.Second
	for restarts := 0; ; restarts++ {
		s.mu.Lock()
		p, n := s.cur, s.n
		s.mu.Unlock()
		began := time.Now()
		<-p.Done()
		s.mu.Lock()
		why, killed := "exited: "+fmt.Sprint(p.ExitErr()), s.killed[n]
		if killed {
			why = "kill -9 (chaos)"
		} else if strings.Contains(p.Output(), "leader election lost") {
			why = "exited: leader election lost"
		}
		if !strings.Contains(p.Output(), "Successfully acquired lease") {
			why += " (never became leader)"
		}
		s.exits = append(s.exits, fmt.Sprintf("manager #%d after %s: %s", n, time.Since(began).Round(time.Second), why))
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		if restarts >= maxRestarts {
			fmt.Fprintf(os.Stderr, "chaos: manager restarted %d times, giving up\n", restarts)
			return
		}
		if time.Since(began) > 30*time.Second {
			backoff = time.Second
		}
		if !killed {
			// A crash-looping manager waits longer each time, like CrashLoopBackOff.
			time.Sleep(backoff)
			backoff = min(2*backoff, 8*time.Second)
		}
		if err := s.spawn(); err == errStopping {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "chaos: restarting manager:", err)
			return
		}
	}
}

// leaseWatch notices the manager's "Successfully acquired lease" log line
// (one log line is one write) on its way to the log file.
type leaseWatch struct {
	w       io.Writer
	leading *atomic.Bool
}

func (l leaseWatch) Write(p []byte) (int, error) {
	if !l.leading.Load() && bytes.Contains(p, []byte("Successfully acquired lease")) {
		l.leading.Store(true)
	}
	return l.w.Write(p)
}

// waitLeader waits, at most timeout, until the running manager holds the
// leader lease: killing one that is still waiting for it would test
// nothing.
func (s *supervisor) waitLeader(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		leading := s.leading
		s.mu.Unlock()
		if leading != nil && leading.Load() {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false
}

// kill9 kills the running manager without any chance to clean up (its
// leader lease is not released; the next one waits for it to expire).
func (s *supervisor) kill9() {
	s.mu.Lock()
	p := s.cur
	s.killed[s.n] = true
	s.mu.Unlock()
	p.Kill()
}

func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	p := s.cur
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.Stop()
	select {
	case <-s.stopped:
	case <-time.After(20 * time.Second):
	}
}

// logs is what each incarnation wrote.
func (s *supervisor) logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.outputs))
	for _, p := range s.outputs {
		out = append(out, p.Output())
	}
	return out
}

func (s *supervisor) history() (starts int, exits []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, append([]string(nil), s.exits...)
}
