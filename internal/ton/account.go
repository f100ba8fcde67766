package ton

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Account statuses as the API reports them (GET /v1/balance).
const (
	StatusActive   = "active"
	StatusUninit   = "uninit"
	StatusFrozen   = "frozen"
	StatusNonExist = "non_exist"
)

// AccountState returns addr's balance in nanoton and its status (one of
// the Status constants) at the current masterchain head. An account that
// does not exist has balance 0 and status "non_exist".
//
// Unlike Account it works on every account: it checks the liteserver's
// proofs as tonutils-go does, then reads the account cell itself, knowing
// the storage_extra_info field tonutils-go v1.12.0 misparses.
func (c *Client) AccountState(ctx context.Context, addr *address.Address) (*big.Int, string, error) {
	head, err := c.MasterHead(ctx)
	if err != nil {
		return nil, "", err
	}
	return c.AccountStateAt(ctx, head, addr)
}

// AccountStateAt is AccountState at masterchain block (from PinnedAt, for
// reads a decision rests on). The liteserver is asked to wait until it has
// the block, and the answer must prove the state at exactly that block, so
// a node that lags never answers from an older state.
func (c *Client) AccountStateAt(ctx context.Context, block *tonutils.BlockIDExt, addr *address.Address) (*big.Int, string, error) {
	bal, status, err := c.accountStateAt(ctx, block, addr)
	if err != nil {
		return nil, "", fmt.Errorf("ton: account state of %s at block %d: %w", addr.StringRaw(), block.SeqNo, err)
	}
	return bal, status, nil
}

// accountStateAt mirrors tonutils-go's APIClient.GetAccount (same query,
// same proof checks for ProofCheckPolicyFast) up to the point where it
// parses the account, which it does with parseAccount instead.
func (c *Client) accountStateAt(ctx context.Context, block *tonutils.BlockIDExt, addr *address.Address) (*big.Int, string, error) {
	var resp tl.Serializable
	err := c.api.WaitForBlock(block.SeqNo).Client().QueryLiteserver(ctx, tonutils.GetAccountState{
		ID:      block,
		Account: tonutils.AccountID{Workchain: addr.Workchain(), ID: addr.Data()},
	}, &resp)
	if err != nil {
		return nil, "", err
	}
	var st tonutils.AccountState
	switch t := resp.(type) {
	case tonutils.AccountState:
		st = t
	case tonutils.LSError:
		return nil, "", t
	default:
		return nil, "", fmt.Errorf("unexpected liteserver answer %T", resp)
	}
	if st.ID == nil || !st.ID.Equals(block) {
		return nil, "", errors.New("answer is for another masterchain block")
	}
	if st.Proof == nil {
		return nil, "", errors.New("answer carries no proof")
	}
	var shardHash []byte
	if addr.Workchain() != address.MasterchainID && block.Workchain == address.MasterchainID {
		if len(st.ShardProof) == 0 {
			return nil, "", tonutils.ErrNoProof
		}
		if st.Shard == nil || len(st.Shard.RootHash) != 32 {
			return nil, "", errors.New("answer carries no shard block")
		}
		shardHash = st.Shard.RootHash
	}
	shardAcc, balanceInfo, err := tonutils.CheckAccountStateProof(addr, block, st.Proof, st.ShardProof, shardHash, false)
	if errors.Is(err, tonutils.ErrNoAddrInProof) && st.State == nil {
		return new(big.Int), StatusNonExist, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("check account state proof: %w", err)
	}
	if st.State == nil {
		return nil, "", errors.New("proof names the account but the answer has no state")
	}
	if !bytes.Equal(shardAcc.Account.Hash(0), st.State.Hash()) {
		return nil, "", errors.New("account state does not match its proof")
	}
	status, balance, err := parseAccount(st.State)
	if err != nil {
		return nil, "", err
	}
	if balance.Cmp(balanceInfo.Currencies.Coins.Nano()) != 0 {
		return nil, "", errors.New("account balance does not match its proof")
	}
	return balance, status, nil
}

// parseAccount reads the status and balance of an Account cell (block.tlb):
//
//	account_none$0 = Account;
//	account$1 addr:MsgAddressInt storage_stat:StorageInfo storage:AccountStorage = Account;
//	storage_info$_ used:StorageUsed storage_extra:StorageExtraInfo last_paid:uint32 due_payment:(Maybe Grams) = StorageInfo;
//	storage_used$_ cells:(VarUInteger 7) bits:(VarUInteger 7) = StorageUsed;
//	storage_extra_none$000 = StorageExtraInfo;
//	storage_extra_info$001 dict_hash:uint256 = StorageExtraInfo;
//	account_storage$_ last_trans_lt:uint64 balance:CurrencyCollection state:AccountState = AccountStorage;
//	account_uninit$00 = AccountState; account_active$1 _:StateInit = AccountState;
//	account_frozen$01 state_hash:bits256 = AccountState;
//
// Before storage_extra existed the same three bits were the length of a
// third VarUInteger 7 (public cells), always zero: $000 reads both ways.
func parseAccount(c *cell.Cell) (status string, balance *big.Int, err error) {
	s := c.BeginParse()
	fail := func(what string, err error) (string, *big.Int, error) {
		return "", nil, fmt.Errorf("parse account: %s: %w", what, err)
	}
	exists, err := s.LoadBoolBit()
	if err != nil {
		return fail("tag", err)
	}
	if !exists {
		return StatusNonExist, new(big.Int), nil
	}
	if _, err := s.LoadAddr(); err != nil {
		return fail("address", err)
	}
	if _, err := s.LoadVarUInt(7); err != nil {
		return fail("storage cells", err)
	}
	if _, err := s.LoadVarUInt(7); err != nil {
		return fail("storage bits", err)
	}
	extra, err := s.LoadUInt(3)
	if err != nil {
		return fail("storage extra", err)
	}
	switch extra {
	case 0: // storage_extra_none
	case 1: // storage_extra_info dict_hash:uint256
		if _, err := s.LoadSlice(256); err != nil {
			return fail("storage extra dict hash", err)
		}
	default:
		return fail("storage extra", fmt.Errorf("unknown tag %03b", extra))
	}
	if _, err := s.LoadUInt(32); err != nil {
		return fail("last paid", err)
	}
	due, err := s.LoadBoolBit()
	if err != nil {
		return fail("due payment", err)
	}
	if due {
		if _, err := s.LoadBigCoins(); err != nil {
			return fail("due payment", err)
		}
	}
	if _, err := s.LoadUInt(64); err != nil {
		return fail("last transaction lt", err)
	}
	if balance, err = s.LoadBigCoins(); err != nil {
		return fail("balance", err)
	}
	if _, err := s.LoadMaybeRef(); err != nil {
		return fail("extra currencies", err)
	}
	active, err := s.LoadBoolBit()
	if err != nil {
		return fail("state", err)
	}
	if active {
		return StatusActive, balance, nil
	}
	frozen, err := s.LoadBoolBit()
	if err != nil {
		return fail("state", err)
	}
	if frozen {
		return StatusFrozen, balance, nil
	}
	return StatusUninit, balance, nil
}
