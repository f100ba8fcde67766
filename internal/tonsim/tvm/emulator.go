package tvm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// ErrInvalidConfig is wrapped when the emulator rejects a blockchain config.
var ErrInvalidConfig = errors.New("tvm: emulator rejected the blockchain config")

// ErrEmulatorFailed is wrapped when the emulator reports a protocol failure
// ({"fail":true,...}) rather than a result.
var ErrEmulatorFailed = errors.New("tvm: emulator call failed")

// msgExternalNotAccepted is the emulator's error text for an inbound
// external message the contract did not accept.
const msgExternalNotAccepted = "External message not accepted by smart contract"

// msgCantSetParams is the failure after which emulate_with_emulator has
// already destroyed the emulator object (see emulator-emscripten.cpp).
const msgCantSetParams = "Can't set params"

// Emulator is a transaction emulator object inside an Instance: the C side
// keeps the parsed blockchain config (parsing takes milliseconds), so one
// Emulator per config is reused for many transactions. It shares its
// Instance's lack of concurrency safety.
type Emulator struct {
	in         *Instance
	configB64  string
	configHash []byte
	verbosity  int

	// ptr is the C pointer, 0 when there is no live object: the C side frees
	// the object itself when it rejects the parameters, and the pointer must
	// never be used again. The next call creates a fresh object.
	ptr uint32
	// libsHash is the hash of the library dictionary the C object holds.
	// The C side keeps the last libs passed (NULL means "unchanged") and
	// cannot drop them, so switching back to "no libs" recreates the object.
	libsHash []byte
	closed   bool
}

// NewEmulator creates an emulator for config (the ConfigParams dictionary
// root, HashmapE 32 ^Cell, as in assets.Assets.Config) with the given VM log
// verbosity (0: short log, 1: full, 2-5: more detail per instruction).
// A config the emulator cannot unpack yields an error wrapping
// ErrInvalidConfig or ErrUncaughtException; the instance stays usable.
func (in *Instance) NewEmulator(ctx context.Context, config *cell.Cell, verbosity int) (*Emulator, error) {
	if config == nil {
		return nil, errors.New("tvm: NewEmulator: nil config")
	}
	em := &Emulator{in: in, configB64: bocB64(config), configHash: config.Hash(), verbosity: verbosity}
	if err := em.create(ctx); err != nil {
		return nil, err
	}
	return em, nil
}

func (em *Emulator) create(ctx context.Context) error {
	in := em.in
	p, err := in.cString(ctx, em.configB64)
	if err != nil {
		return err
	}
	r, err := in.callTop(ctx, expCreateEmulator, uint64(p), uint64(uint32(int32(em.verbosity))))
	in.freeAll(ctx, []uint64{uint64(p)})
	if err != nil {
		if errors.Is(err, ErrUncaughtException) {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return fmt.Errorf("tvm: create emulator: %w", err)
	}
	if uint32(r) == 0 {
		return ErrInvalidConfig
	}
	em.ptr, em.libsHash = uint32(r), nil
	return nil
}

// destroy frees the C object if there is one.
func (em *Emulator) destroy(ctx context.Context) error {
	if em.ptr == 0 {
		return nil
	}
	p := em.ptr
	em.ptr, em.libsHash = 0, nil
	if em.in.Err() != nil {
		return nil // the memory is gone or untrustworthy: nothing to free
	}
	_, err := em.in.callTop(ctx, expDestroyEmulator, uint64(p))
	return err
}

// Close frees the emulator object. It is safe to call more than once.
func (em *Emulator) Close(ctx context.Context) error {
	if em.closed {
		return nil
	}
	em.closed = true
	return em.destroy(ctx)
}

// ConfigHash is the hash of the config the emulator was created with.
func (em *Emulator) ConfigHash() []byte { return append([]byte(nil), em.configHash...) }

// Params are the per-transaction emulation parameters.
type Params struct {
	// UTime is the block time seen by the transaction (NOW); 0 makes the
	// emulator use the wall clock.
	UTime uint32
	// LT is the requested logical time. The transaction's start LT is
	// max(LT, account's last LT + 1, inbound message created_lt + 1).
	LT uint64
	// RandSeed is the 32-byte block random seed; nil means all zeroes, so
	// results are reproducible.
	RandSeed []byte
	// IgnoreChksig makes CHKSIG* always succeed (emulating unsigned
	// messages).
	IgnoreChksig bool
	// Libs is the shardchain library dictionary (HashmapE 256: code hash ->
	// ^Cell with the library code) used to resolve library cells; nil means
	// none.
	Libs *cell.Cell
	// Debug enables DEBUG* TVM instructions (their output goes to VMLog).
	Debug bool
}

// Result is the emulator's verdict on one inbound message.
type Result struct {
	// Success is true when a transaction was produced. That includes
	// transactions whose compute phase failed or was skipped (a bounced or
	// aborted transaction is still a transaction): inspect Transaction.
	Success bool
	// Error is the emulator's message when Success is false.
	Error string
	// ExternalNotAccepted is set when an inbound external message was not
	// accepted by the contract (no ACCEPT, or it threw first): a real
	// liteserver rejects such a message at sendMessage and no transaction
	// exists.
	ExternalNotAccepted bool
	// VMExitCode is the TVM exit code the emulator reports for a rejected
	// external message. For produced transactions read the compute phase of
	// Transaction instead (the emulator does not report it separately).
	VMExitCode int
	// VMLog is the TVM execution log (truncated unless verbosity > 0).
	VMLog string
	// Transaction is the Transaction cell; ShardAccount the account's new
	// ShardAccount cell; Actions the contract's out-action list (nil when
	// the compute phase produced none). All nil unless Success.
	Transaction  *cell.Cell
	ShardAccount *cell.Cell
	Actions      *cell.Cell
	// Logs holds the emulator's own debug log lines for this call.
	Logs string
}

type emulateParamsJSON struct {
	UTime        uint32 `json:"utime"`
	LT           string `json:"lt"`
	RandSeed     string `json:"rand_seed"`
	IgnoreChksig bool   `json:"ignore_chksig"`
	Debug        bool   `json:"debug_enabled"`
}

type emulateResponse struct {
	Fail    bool   `json:"fail"`
	Message string `json:"message"`
	Output  *struct {
		Success             bool    `json:"success"`
		Error               string  `json:"error"`
		ExternalNotAccepted bool    `json:"external_not_accepted"`
		Transaction         string  `json:"transaction"`
		ShardAccount        string  `json:"shard_account"`
		VMLog               string  `json:"vm_log"`
		VMExitCode          int     `json:"vm_exit_code"`
		Actions             *string `json:"actions"`
	} `json:"output"`
	Logs string `json:"logs"`
}

// Emulate runs one inbound message (internal or external) against
// shardAccount (a ShardAccount cell; a non-existent account is a
// ShardAccount whose account is account_none, see NoneShardAccount). A
// rejected message is a Result with Success=false; errors are reserved for
// invalid arguments, emulator protocol failures and traps.
func (em *Emulator) Emulate(ctx context.Context, shardAccount, msg *cell.Cell, p Params) (*Result, error) {
	if em.closed {
		return nil, ErrClosed
	}
	if shardAccount == nil || msg == nil {
		return nil, errors.New("tvm: Emulate: nil shard account or message")
	}
	seed, err := seedHex(p.RandSeed)
	if err != nil {
		return nil, err
	}
	libs := cArg{null: true}
	var libsHash []byte
	if p.Libs != nil {
		libsHash = p.Libs.Hash()
		if !bytes.Equal(libsHash, em.libsHash) {
			libs = cArg{s: bocB64(p.Libs)}
		}
	} else if em.libsHash != nil {
		if err := em.destroy(ctx); err != nil {
			return nil, err
		}
	}
	if em.ptr == 0 {
		if err := em.create(ctx); err != nil {
			return nil, err
		}
	}
	pj, err := json.Marshal(emulateParamsJSON{
		UTime: p.UTime, LT: strconv.FormatUint(p.LT, 10), RandSeed: seed,
		IgnoreChksig: p.IgnoreChksig, Debug: p.Debug,
	})
	if err != nil {
		return nil, err
	}
	out, err := em.in.callString(ctx, expEmulateWithEmulator, []uint64{uint64(em.ptr)},
		libs, cArg{s: bocB64(shardAccount)}, cArg{s: bocB64(msg)}, cArg{s: string(pj)})
	if err != nil {
		// The C object may have been half-way through the transaction; do not
		// trust (or free) it.
		em.ptr, em.libsHash = 0, nil
		return nil, err
	}
	var resp emulateResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("tvm: malformed emulator output: %w: %.200q", err, out)
	}
	if resp.Fail {
		if resp.Message == msgCantSetParams {
			em.ptr, em.libsHash = 0, nil // already freed by the C side
		}
		return nil, fmt.Errorf("%w: %s", ErrEmulatorFailed, resp.Message)
	}
	if libsHash != nil {
		em.libsHash = libsHash
	}
	o := resp.Output
	if o == nil {
		return nil, fmt.Errorf("tvm: emulator output lacks \"output\": %.200q", out)
	}
	r := &Result{
		Success: o.Success, Error: o.Error, VMLog: o.VMLog, VMExitCode: o.VMExitCode, Logs: resp.Logs,
		ExternalNotAccepted: o.ExternalNotAccepted || (!o.Success && strings.Contains(o.Error, msgExternalNotAccepted)),
	}
	if !o.Success {
		return r, nil
	}
	if r.Transaction, err = cellFromB64(o.Transaction); err != nil {
		return nil, fmt.Errorf("tvm: emulator transaction: %w", err)
	}
	if r.ShardAccount, err = cellFromB64(o.ShardAccount); err != nil {
		return nil, fmt.Errorf("tvm: emulator shard account: %w", err)
	}
	if o.Actions != nil && *o.Actions != "" {
		if r.Actions, err = cellFromB64(*o.Actions); err != nil {
			return nil, fmt.Errorf("tvm: emulator actions: %w", err)
		}
	}
	return r, nil
}

// NoneShardAccount returns the ShardAccount of an account that does not
// exist (account_none, zero last transaction hash and LT): what Emulate needs
// for a message to a fresh address.
func NoneShardAccount() *cell.Cell {
	return cell.BeginCell().
		MustStoreRef(cell.BeginCell().MustStoreUInt(0, 1).EndCell()).
		MustStoreSlice(make([]byte, 32), 256).
		MustStoreUInt(0, 64).
		EndCell()
}

// seedHex validates a random seed and returns it as the 64 hex digits the
// emulator requires (a wrong length would make the C side free the
// emulator object).
func seedHex(seed []byte) (string, error) {
	switch len(seed) {
	case 0:
		return strings.Repeat("0", 64), nil
	case 32:
		return hex.EncodeToString(seed), nil
	}
	return "", fmt.Errorf("tvm: RandSeed must be 32 bytes, got %d", len(seed))
}

func bocB64(c *cell.Cell) string {
	return base64.StdEncoding.EncodeToString(c.ToBOCWithFlags(false))
}

func cellFromB64(s string) (*cell.Cell, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return cell.FromBOC(b)
}

// b64Cache remembers the base64 BOC of a few recently used cells (configs
// are ~100 KB, and serialising them per get-method call is wasted work).
type b64Cache struct {
	max  int
	keys []string // oldest first
	vals map[string]string
}

func (c *b64Cache) get(cl *cell.Cell) string {
	k := string(cl.Hash())
	if v, ok := c.vals[k]; ok {
		return v
	}
	if c.vals == nil {
		c.vals = map[string]string{}
	}
	v := bocB64(cl)
	if len(c.keys) >= c.max && len(c.keys) > 0 {
		delete(c.vals, c.keys[0])
		c.keys = c.keys[1:]
	}
	c.keys = append(c.keys, k)
	c.vals[k] = v
	return v
}
