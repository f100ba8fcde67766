package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The helper process: a foreground job on its own terminal that stops on
// Ctrl-C through stopOnCtrlC, like `processor dev`.
func TestMain(m *testing.M) {
	if os.Getenv("PROCESSOR_TERMINAL_HELPER") == "1" {
		ctx, cancel := context.WithCancel(context.Background())
		restore := stopOnCtrlC(os.Stdin, cancel)
		fmt.Println("ready")
		<-ctx.Done()
		restore()
		t, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
		if err != nil {
			fmt.Println("termios:", err)
			os.Exit(3)
		}
		fmt.Printf("stopped isig=%v\n", t.Lflag&unix.ISIG != 0)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return m, s
}

// Ctrl-C typed at the terminal stops `processor dev` cleanly (exit 0)
// without a SIGINT, which make would also receive and turn into
// "make: *** [dev] Interrupt"; the terminal's settings are restored.
func TestCtrlCOnTheTerminalStopsWithoutSIGINT(t *testing.T) {
	master, slave := openPTY(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCESSOR_TERMINAL_HELPER=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	expect := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("terminal closed before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q within 20s", prefix)
			}
		}
	}
	expect("ready")
	if _, err := master.Write([]byte{ctrlC}); err != nil {
		t.Fatal(err)
	}
	if got := expect("stopped"); got != "stopped isig=true" {
		t.Fatalf("after Ctrl-C: %q, want the terminal's ISIG restored", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper exited with %v, want a clean exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not exit")
	}
}
