package tvm

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// GetMethodParams describes one get-method run.
type GetMethodParams struct {
	// Code and Data are the contract's current code and persistent data.
	Code, Data *cell.Cell
	// Address is the contract address (MYADDR); required.
	Address *address.Address
	// Balance is the contract balance in nanotons (nil means 0; must fit in
	// 64 bits).
	Balance *big.Int
	// UTime is NOW as seen by the method.
	UTime uint32

	// Method is the method name; when set it overrides MethodID with
	// tlb.MethodNameHash(Method).
	Method string
	// MethodID is the numeric method id (as a liteserver's runSmcMethod
	// receives it); it must fit in 32 bits.
	MethodID int64

	// Stack is the serialized initial VmStack (as tlb.Stack.ToCell
	// produces). When nil, the stack is built from Args.
	Stack *cell.Cell
	// Args are the method arguments in natural (declaration) order, with
	// the value types tlb.Stack accepts; used only when Stack is nil.
	Args []any

	// Config is the blockchain config the method sees (CONFIGPARAM);
	// required. The emulator deserialises it on every call, so its size
	// dominates the cost of small methods: see SlimConfig.
	Config *cell.Cell
	// Libs is the library dictionary (HashmapE 256 ^Cell), nil for none.
	Libs *cell.Cell
	// RandSeed is the 32-byte random seed; nil means zeroes.
	RandSeed []byte
	// GasLimit caps the gas; 0 keeps the emulator's default.
	GasLimit int64
	// Verbosity is the VM log verbosity (see NewEmulator).
	Verbosity int
	// Debug enables DEBUG* TVM instructions.
	Debug bool
}

// GetMethodResult is the outcome of a get method. A TVM exception is not a
// Go error: check ExitCode (0 and 1 mean success, as on a liteserver).
type GetMethodResult struct {
	// ExitCode is the TVM exit code (11: no such method; -256 is what a
	// liteserver reports for an uninitialised account, never produced here).
	ExitCode int
	// Stack is the resulting VmStack cell exactly as the emulator returned
	// it: a liteserver answers runSmcMethod with this cell.
	Stack *cell.Cell
	// GasUsed is the gas consumed.
	GasUsed int64
	// VMLog is the TVM execution log.
	VMLog string
	// MissingLibrary is the hex hash of a library cell that could not be
	// resolved ("" if none).
	MissingLibrary string
	// Logs holds the emulator's own log lines for this call.
	Logs string
}

// Values decodes Stack into Go values in natural order (the first returned
// value first), the same convention as tonutils-go's RunGetMethod.
func (r *GetMethodResult) Values() ([]any, error) {
	if r.Stack == nil {
		return nil, errors.New("tvm: no result stack")
	}
	var st tlb.Stack
	if err := st.LoadFromCell(r.Stack.BeginParse()); err != nil {
		return nil, fmt.Errorf("tvm: parse result stack: %w", err)
	}
	out := make([]any, 0, st.Depth())
	for st.Depth() > 0 {
		v, err := st.Pop()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

type getMethodParamsJSON struct {
	Code      string `json:"code"`
	Data      string `json:"data"`
	Verbosity int    `json:"verbosity"`
	Libs      string `json:"libs"`
	Address   string `json:"address"`
	UnixTime  uint32 `json:"unixtime"`
	Balance   string `json:"balance"`
	RandSeed  string `json:"rand_seed"`
	GasLimit  string `json:"gas_limit"`
	MethodID  int64  `json:"method_id"`
	Debug     bool   `json:"debug_enabled"`
}

type getMethodResponse struct {
	Fail    bool   `json:"fail"`
	Message string `json:"message"`
	Output  *struct {
		Success        bool    `json:"success"`
		Error          string  `json:"error"`
		Stack          string  `json:"stack"`
		GasUsed        string  `json:"gas_used"`
		VMExitCode     int     `json:"vm_exit_code"`
		VMLog          string  `json:"vm_log"`
		MissingLibrary *string `json:"missing_library"`
	} `json:"output"`
	Logs string `json:"logs"`
}

// buildStack returns the serialized initial stack of p.
func (p *GetMethodParams) buildStack() (*cell.Cell, error) {
	if p.Stack != nil {
		return p.Stack, nil
	}
	var st tlb.Stack
	for i := len(p.Args) - 1; i >= 0; i-- { // the first argument ends up deepest
		st.Push(p.Args[i])
	}
	c, err := st.ToCell()
	if err != nil {
		return nil, fmt.Errorf("tvm: build get-method stack: %w", err)
	}
	return c, nil
}

// RunGetMethod runs a get method. Errors are reserved for invalid
// parameters, emulator protocol failures and traps; a method that throws
// returns its exit code in the result.
func (in *Instance) RunGetMethod(ctx context.Context, p GetMethodParams) (*GetMethodResult, error) {
	if p.Code == nil || p.Data == nil || p.Address == nil || p.Config == nil {
		return nil, errors.New("tvm: RunGetMethod needs Code, Data, Address and Config")
	}
	methodID := p.MethodID
	if p.Method != "" {
		methodID = int64(tlb.MethodNameHash(p.Method))
	}
	if methodID < math.MinInt32 || methodID > math.MaxInt32 {
		return nil, fmt.Errorf("tvm: method id %d does not fit in 32 bits", methodID)
	}
	balance := "0"
	if p.Balance != nil {
		if p.Balance.Sign() < 0 || !p.Balance.IsUint64() {
			return nil, fmt.Errorf("tvm: balance %s out of range", p.Balance)
		}
		balance = p.Balance.String()
	}
	if p.GasLimit < 0 {
		return nil, fmt.Errorf("tvm: negative gas limit")
	}
	seed, err := seedHex(p.RandSeed)
	if err != nil {
		return nil, err
	}
	stack, err := p.buildStack()
	if err != nil {
		return nil, err
	}
	pj := getMethodParamsJSON{
		Code: bocB64(p.Code), Data: bocB64(p.Data), Verbosity: p.Verbosity,
		Address: p.Address.String(), UnixTime: p.UTime, Balance: balance, RandSeed: seed,
		GasLimit: strconv.FormatInt(p.GasLimit, 10), MethodID: methodID, Debug: p.Debug,
	}
	if p.Libs != nil {
		pj.Libs = bocB64(p.Libs)
	}
	pb, err := json.Marshal(pj)
	if err != nil {
		return nil, err
	}
	out, err := in.callString(ctx, expRunGetMethod, nil,
		cArg{s: string(pb)}, cArg{s: bocB64(stack)}, cArg{s: in.cfgCache.get(p.Config)})
	if err != nil {
		return nil, err
	}
	var resp getMethodResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("tvm: malformed get-method output: %w: %.200q", err, out)
	}
	if resp.Fail {
		return nil, fmt.Errorf("%w: %s", ErrEmulatorFailed, resp.Message)
	}
	o := resp.Output
	if o == nil {
		return nil, fmt.Errorf("tvm: get-method output lacks \"output\": %.200q", out)
	}
	if !o.Success {
		return nil, fmt.Errorf("%w: %s", ErrEmulatorFailed, o.Error)
	}
	r := &GetMethodResult{ExitCode: o.VMExitCode, VMLog: o.VMLog, Logs: resp.Logs}
	if o.MissingLibrary != nil {
		r.MissingLibrary = *o.MissingLibrary
		if _, err := hex.DecodeString(r.MissingLibrary); err != nil {
			return nil, fmt.Errorf("tvm: malformed missing_library %q", r.MissingLibrary)
		}
	}
	if o.GasUsed != "" {
		if r.GasUsed, err = strconv.ParseInt(o.GasUsed, 10, 64); err != nil {
			return nil, fmt.Errorf("tvm: malformed gas_used %q", o.GasUsed)
		}
	}
	if o.Stack != "" {
		if r.Stack, err = cellFromB64(o.Stack); err != nil {
			return nil, fmt.Errorf("tvm: get-method stack: %w", err)
		}
	}
	return r, nil
}
