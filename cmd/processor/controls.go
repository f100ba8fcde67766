package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// EnvOperatorPassword passes an operator's password to `processor operator
// add|reset` instead of standard input (never a flag: flags show in ps).
const EnvOperatorPassword = "OPERATOR_PASSWORD"

// passwordInput is where `operator add|reset` reads a password when
// OPERATOR_PASSWORD is unset.
var passwordInput io.Reader = os.Stdin

// controlFlags parses "ARG --operator NAME --reason TEXT [--role R]" in any
// order; arg is the one positional argument.
type controlFlags struct {
	arg, operator, reason, role string
}

func parseControlFlags(name string, args []string, withRole bool) (controlFlags, error) {
	var f controlFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.operator, "operator", "", "operator name")
	fs.StringVar(&f.reason, "reason", "", "reason")
	if withRole {
		fs.StringVar(&f.role, "role", "", "viewer, approver or admin")
	}
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return f, fmt.Errorf("%s: %w", name, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 1 {
		return f, fmt.Errorf("%s needs exactly one argument, got %d", name, len(pos))
	}
	f.arg = pos[0]
	return f, nil
}

// withdrawalCommand is `processor withdrawal approve|reject ID --operator NAME --reason TEXT`.
func withdrawalCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "approve" && args[0] != "reject") {
		return errors.New("usage: processor withdrawal approve|reject ID --operator NAME --reason TEXT")
	}
	f, err := parseControlFlags("withdrawal "+args[0], args[1:], false)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(f.arg, 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("withdrawal %s: %q is not a withdrawal ID", args[0], f.arg)
	}
	if f.operator == "" || strings.TrimSpace(f.reason) == "" {
		return fmt.Errorf("withdrawal %s needs --operator NAME and --reason TEXT", args[0])
	}
	ctl, closeDB, err := openControls(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	if args[0] == "reject" {
		if err := ctl.Reject(ctx, id, f.operator, f.reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "withdrawal %d rejected: failed\n", id)
		return nil
	}
	state, err := ctl.Approve(ctx, id, f.operator, f.reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "withdrawal %d approved by %s: %s\n", id, f.operator, state)
	return nil
}

// withdrawalsCommand is `processor withdrawals pause|resume CURRENCY --operator NAME --reason TEXT`.
func withdrawalsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "pause" && args[0] != "resume") {
		return errors.New("usage: processor withdrawals pause|resume CURRENCY --operator NAME --reason TEXT")
	}
	f, err := parseControlFlags("withdrawals "+args[0], args[1:], false)
	if err != nil {
		return err
	}
	if f.operator == "" || strings.TrimSpace(f.reason) == "" {
		return fmt.Errorf("withdrawals %s needs --operator NAME and --reason TEXT", args[0])
	}
	ctl, closeDB, err := openControls(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	if args[0] == "pause" {
		if err := ctl.Pause(ctx, f.arg, f.operator, f.reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s withdrawals paused\n", f.arg)
		return nil
	}
	if err := ctl.Resume(ctx, f.arg, f.operator, f.reason); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s withdrawals resumed\n", f.arg)
	return nil
}

func openControls(ctx context.Context, getenv func(string) string) (*withdrawals.Controls, func(), error) {
	network, approvals, err := config.LoadControls(getenv)
	if err != nil {
		return nil, nil, err
	}
	pool, err := openDB(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	ctl, err := withdrawals.NewControls(pool, withdrawals.ControlsConfig{Network: network, ApprovalsRequired: approvals})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return ctl, pool.Close, nil
}

// operatorCommand is `processor operator add|disable|reset NAME [--role R]`.
// The password comes from OPERATOR_PASSWORD or the first line of standard
// input; the TOTP secret is printed once as an otpauth:// URI.
func operatorCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "disable" && args[0] != "reset") {
		return errors.New("usage: processor operator add|reset NAME --role viewer|approver|admin (password on stdin or in OPERATOR_PASSWORD) | operator disable NAME [--reason TEXT]")
	}
	f, err := parseControlFlags("operator "+args[0], args[1:], true)
	if err != nil {
		return err
	}
	actor := "cli"
	if u := getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	pool, err := openDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	if args[0] == "disable" {
		if err := operators.Disable(ctx, pool, actor, f.arg, f.reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "operator %s disabled\n", f.arg)
		return nil
	}
	role, err := operators.ParseRole(f.role)
	if err != nil {
		return fmt.Errorf("operator %s needs --role viewer|approver|admin: %w", args[0], err)
	}
	password := getenv(EnvOperatorPassword)
	if password == "" {
		line, err := bufio.NewReader(passwordInput).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	add := operators.Add
	if args[0] == "reset" {
		add = operators.Reset
	}
	enr, err := add(ctx, pool, actor, f.arg, role, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "operator %s (%s) ready. Add this TOTP secret to an authenticator app now; it is not shown again:\n%s\n", f.arg, role, enr.TOTPURI)
	return nil
}
