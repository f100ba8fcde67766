package main

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

// ctrlC is the byte a terminal sends for Ctrl-C once it no longer turns
// it into SIGINT.
const ctrlC = 0x03

// stopOnCtrlC makes Ctrl-C on an interactive terminal stop the process
// through cancel instead of a SIGINT to the whole foreground process
// group. `make dev` is the reason: make gets that SIGINT too and then
// reports the target as interrupted (exit 130) however cleanly the
// processor stopped. The terminal keeps printing as usual (output
// processing is untouched); in is normally os.Stdin; the returned func restores it and must run
// before exit. When stdin is not a terminal nothing changes.
func stopOnCtrlC(in *os.File, cancel context.CancelFunc) (restore func()) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	// Only in the foreground: changing the terminal from a background job
	// would stop the process (SIGTTOU).
	if pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err != nil || pg != unix.Getpgrp() {
		return func() {}
	}
	t := *old
	t.Lflag &^= unix.ISIG | unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return func() {}
	}
	go func() {
		b := make([]byte, 1)
		for {
			n, err := in.Read(b)
			if err != nil {
				return
			}
			if n == 1 && b[0] == ctrlC {
				cancel()
			}
		}
	}()
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}
