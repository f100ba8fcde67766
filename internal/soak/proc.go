package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// moduleRoot finds the directory holding go.mod, from dir upwards.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
}

// buildProcessor compiles cmd/processor into dir.
func buildProcessor(ctx context.Context, moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "processor")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/processor")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/processor: %w: %s", err, b)
	}
	return out, nil
}

// freeAddr picks a free loopback port once; the processor keeps it across
// restarts so the driver's API URL stays valid.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	return addr, nil
}

// supervisor runs `processor serve` as a child process, kills it with
// SIGKILL on request and restarts it, also after exits it did not cause.
type supervisor struct {
	bin     string
	env     []string
	logPath string
	apiURL  string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has exited
	killing   bool          // the next exit is ours
	stopped   bool
	starts    int
	kills     int
	unplanned []string // exit statuses we did not cause
}

func newSupervisor(bin string, env map[string]string, logPath, apiURL string) *supervisor {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range keys {
		list = append(list, k+"="+env[k])
	}
	return &supervisor{bin: bin, env: list, logPath: logPath, apiURL: apiURL}
}

// start launches the child; the caller holds no lock.
func (s *supervisor) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

func (s *supervisor) startLocked() error {
	if s.stopped {
		return errors.New("supervisor stopped")
	}
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("processor log: %w", err)
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start processor: %w", err)
	}
	s.starts++
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.killing && !s.stopped {
			s.unplanned = append(s.unplanned, fmt.Sprintf("exit at %s: %v", time.Now().Format("15:04:05"), err))
		}
		s.killing = false
		if s.cmd == cmd {
			s.cmd = nil
		}
		close(done)
	}()
	return nil
}

// kill9 sends SIGKILL and waits for the exit.
func (s *supervisor) kill9() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	if cmd == nil {
		s.mu.Unlock()
		return errors.New("processor not running")
	}
	s.killing = true
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	<-done
	s.mu.Lock()
	s.kills++
	s.mu.Unlock()
	return nil
}

// ensure restarts the child when it is not running (after an unplanned
// exit, e.g. the database was away while it started).
func (s *supervisor) ensure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil || s.stopped {
		return nil
	}
	return s.startLocked()
}

// waitReady polls /healthz until it answers 200, restarting the child if
// it died on the way.
func (s *supervisor) waitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := s.ensure(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.apiURL+"/healthz", nil)
		if err != nil {
			return fmt.Errorf("healthz request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processor not ready within %s (log: %s): %w", within, s.logPath, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the child for good (SIGTERM, then SIGKILL after 10 s).
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopped = true
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func (s *supervisor) stats() (starts, kills int, unplanned []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.kills, append([]string(nil), s.unplanned...)
}
