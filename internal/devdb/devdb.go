// Package devdb starts a throwaway PostgreSQL server for `processor dev`:
// initdb into a temporary directory with the machine's own PostgreSQL
// binaries, a server on a free loopback port, everything removed on Stop.
// Nothing is downloaded.
package devdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Server is a running throwaway PostgreSQL.
type Server struct {
	URL     string // postgres://… for the "postgres" database
	dir     string
	bin     string
	runAs   string // "" or a user to drop root privileges to
	opts    string // server options (port, socket directory, durability)
	stopped bool
}

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or in /usr/lib/postgresql/*/bin")

// findBin locates the directory holding initdb and pg_ctl.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range append(dirs, "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin") {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start initialises and starts a server. PostgreSQL refuses to run as root;
// as root the server runs as the "postgres" system user (present wherever
// the Debian/RPM packages are installed).
func Start(ctx context.Context) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root and there is no 'postgres' user to run PostgreSQL as; set DATABASE_URL instead")
		}
		s.runAs = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "processor-dev-pg-"); err != nil {
		return nil, err
	}
	if s.runAs != "" {
		if err := exec.CommandContext(ctx, "chown", s.runAs, s.dir).Run(); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("chown %s: %w", s.dir, err)
		}
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		s.cleanup()
		return nil, err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, s.dir)
	s.opts = opts
	if out, err := s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start"); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("pg_ctl start: %w: %s", err, lastLines(out))
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return s, nil
}

func (s *Server) run(ctx context.Context, name string, args ...string) (string, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Restart stops the server abruptly (immediate mode: connections are cut
// and the next start runs crash recovery, as after the server processes
// crashed; the OS keeps what was written) and starts
// it again on the same port with the same data. Clients see their
// connections fail and must reconnect. The server runs with
// synchronous_commit=off: sessions that need their commits to survive the
// crash must turn it on (SET synchronous_commit = on, or per database).
func (s *Server) Restart(ctx context.Context) error {
	if s.stopped {
		return errors.New("devdb: restart of a stopped server")
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run(ctx, "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, lastLines(out))
	}
	if out, err := s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "server.log"), "-o", s.opts, "-w", "-t", "30", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s", err, lastLines(out))
	}
	return nil
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop")
	s.cleanup()
	return err
}

func (s *Server) cleanup() { _ = os.RemoveAll(s.dir) }

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
