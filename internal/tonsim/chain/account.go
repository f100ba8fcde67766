package chain

import (
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// AccountInfo is what the simulator needs to know about an account cell.
type AccountInfo struct {
	Exists  bool
	Status  tlb.AccountStatus
	Balance *big.Int
	Code    *cell.Cell // nil unless active
	Data    *cell.Cell
	// Libs is the StateInit's library dictionary (HashmapE 256 SimpleLib),
	// nil when empty: what a masterchain account published.
	Libs *cell.Dictionary
}

// ParseAccount reads an Account cell in the current layout:
//
//	account$1 addr:MsgAddressInt storage_stat:StorageInfo storage:AccountStorage
//	storage_info$_ used:StorageUsed storage_extra:StorageExtraInfo last_paid:uint32 due_payment:(Maybe Grams)
//	storage_used$_ cells:(VarUInteger 7) bits:(VarUInteger 7)
//	storage_extra_none$000 | storage_extra_info$001 dict_hash:uint256
//
// tonutils-go v1.12.0's tlb.AccountState still expects the older three-field
// StorageUsed and misreads storage_extra_info, so the simulator parses it itself.
func ParseAccount(acc *cell.Cell) (AccountInfo, error) {
	s := acc.BeginParse()
	isAcc, err := s.LoadBoolBit()
	if err != nil {
		return AccountInfo{}, fmt.Errorf("account tag: %w", err)
	}
	if !isAcc {
		return AccountInfo{Status: tlb.AccountStatusNonExist, Balance: new(big.Int)}, nil
	}
	if _, err = s.LoadAddr(); err != nil {
		return AccountInfo{}, fmt.Errorf("account address: %w", err)
	}
	if _, err = s.LoadVarUInt(7); err != nil {
		return AccountInfo{}, fmt.Errorf("storage cells: %w", err)
	}
	if _, err = s.LoadVarUInt(7); err != nil {
		return AccountInfo{}, fmt.Errorf("storage bits: %w", err)
	}
	tag, err := s.LoadUInt(3)
	if err != nil {
		return AccountInfo{}, fmt.Errorf("storage extra: %w", err)
	}
	switch tag {
	case 0:
	case 1:
		if _, err = s.LoadSlice(256); err != nil {
			return AccountInfo{}, fmt.Errorf("storage dict hash: %w", err)
		}
	default:
		return AccountInfo{}, fmt.Errorf("unknown storage_extra tag %d", tag)
	}
	if _, err = s.LoadUInt(32); err != nil {
		return AccountInfo{}, fmt.Errorf("last paid: %w", err)
	}
	if due, err := s.LoadBoolBit(); err != nil {
		return AccountInfo{}, fmt.Errorf("due payment: %w", err)
	} else if due {
		if _, err = s.LoadBigCoins(); err != nil {
			return AccountInfo{}, fmt.Errorf("due payment: %w", err)
		}
	}
	var st tlb.AccountStorage
	if err = st.LoadFromCell(s); err != nil {
		return AccountInfo{}, fmt.Errorf("account storage: %w", err)
	}
	info := AccountInfo{Exists: true, Status: st.Status, Balance: st.Balance.Nano()}
	if st.StateInit != nil {
		info.Code, info.Data = st.StateInit.Code, st.StateInit.Data
		if st.StateInit.Lib != nil && !st.StateInit.Lib.IsEmpty() {
			info.Libs = st.StateInit.Lib
		}
	}
	return info, nil
}

// uninitAccount builds an uninit account holding balance, used for genesis
// allocations: account$1 addr storage_stat(zero usage, no extra) storage(uninit).
func uninitAccount(addr *address.Address, balance *big.Int, lastLT uint64, now uint32) *cell.Cell {
	// storage_stat counts the account's storage as one cell: last_trans_lt,
	// balance (a 4-bit length and its bytes), no extra currencies, uninit
	// (what the emulator stores; TestNativeCreditMatchesEmulator).
	bits := 64 + 4 + 8*uint64((balance.BitLen()+7)/8) + 1 + 2
	return cell.BeginCell().MustStoreUInt(1, 1).MustStoreAddr(addr).
		MustStoreVarUInt(1, 7).MustStoreVarUInt(bits, 7).MustStoreUInt(0, 3).MustStoreUInt(uint64(now), 32).MustStoreBoolBit(false).
		MustStoreUInt(lastLT, 64).MustStoreBigCoins(balance).MustStoreDict(nil).MustStoreUInt(0, 2).EndCell()
}

// activeAccount builds an active account with the given code and data, used
// for native contracts placed at genesis (the DNS root).
func activeAccount(addr *address.Address, balance *big.Int, code, data *cell.Cell, now uint32) *cell.Cell {
	si := mustToCell(&tlb.StateInit{Code: code, Data: data})
	return cell.BeginCell().MustStoreUInt(1, 1).MustStoreAddr(addr).
		MustStoreVarUInt(0, 7).MustStoreVarUInt(0, 7).MustStoreUInt(0, 3).MustStoreUInt(uint64(now), 32).MustStoreBoolBit(false).
		MustStoreUInt(0, 64).MustStoreBigCoins(balance).MustStoreDict(nil).MustStoreBoolBit(true).
		MustStoreBuilder(si.ToBuilder()).EndCell()
}

// noneAccount is account_none$0, the state of an address that never existed.
var noneAccount = cell.BeginCell().MustStoreUInt(0, 1).EndCell()

func shardAccountCell(acc *cell.Cell, lastHash []byte, lastLT uint64) *cell.Cell {
	if lastHash == nil {
		lastHash = make([]byte, 32)
	}
	// account_descr$_ account:^Account last_trans_hash:bits256
	// last_trans_lt:uint64, built by hand: tlb.ToCell's reflection was a
	// tenth of bulk mode's time (TestShardAccountCellMatchesTLB).
	return cell.BeginCell().MustStoreRef(acc).MustStoreSlice(lastHash, 256).MustStoreUInt(lastLT, 64).EndCell()
}
