package tonsim

import (
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// ExitProxyNotOwner is the exit code of the bicycle proxy stand-in
// refusing a message from anyone but its owner (as bicycle's proxy does).
const ExitProxyNotOwner = 403

// BicycleProxyCode is a stand-in for gobicycle/bicycle's jetton proxy
// contract, written from the facts sheet (BICYCLE.md §4) for tests of the
// takeover: bicycle's own code is GPL and not part of this repository, so
// its addresses (a hash of the code) differ from real bicycle proxies, but
// it accepts the same messages:
//
//   - data: owner:MsgAddressInt subwallet_id:uint32;
//   - internal messages only: an external message is not accepted;
//   - a bounced message is ignored;
//   - a sender other than the owner: exit code 403;
//   - otherwise each reference of the body is sent as a complete message
//     cell with mode 160 (all the balance, destroy the account when it is
//     empty); the body's bits are ignored.
//
// Hand-assembled (TVM code page 0), with the function selector on top of
// recv_internal's stack (balance value in_msg in_body selector):
//
//	IFRET                          external (-1): return without accepting
//	SWAP CTOS 4 LDU SWAP 1 PUSHINT AND IFRET
//	                               flags: bounced (the lowest bit): ignore
//	LDMSGADDR DROP                 the sender
//	c4 PUSH CTOS LDMSGADDR DROP    the owner
//	SDEQ 403 THROWIFNOT
//	DUP SREFS
//	PUSHCONT { LDREF SWAP 160 PUSHINT SENDRAWMSG } REPEAT
func BicycleProxyCode() *cell.Cell {
	return cell.BeginCell().
		MustStoreUInt(0xDC, 8).          // IFRET
		MustStoreUInt(0x01, 8).          // SWAP
		MustStoreUInt(0xD0, 8).          // CTOS
		MustStoreUInt(0xD303, 16).       // LDU 4
		MustStoreUInt(0x01, 8).          // SWAP
		MustStoreUInt(0x71, 8).          // PUSHINT 1
		MustStoreUInt(0xB0, 8).          // AND
		MustStoreUInt(0xDC, 8).          // IFRET
		MustStoreUInt(0xFA40, 16).       // LDMSGADDR
		MustStoreUInt(0x30, 8).          // DROP
		MustStoreUInt(0xED44, 16).       // c4 PUSH
		MustStoreUInt(0xD0, 8).          // CTOS
		MustStoreUInt(0xFA40, 16).       // LDMSGADDR
		MustStoreUInt(0x30, 8).          // DROP
		MustStoreUInt(0xC705, 16).       // SDEQ
		MustStoreUInt(0xF2E000|403, 24). // THROWIFNOT 403 (11-bit form)
		MustStoreUInt(0x20, 8).          // DUP
		MustStoreUInt(0xD74A, 16).       // SREFS
		MustStoreUInt(0x97, 8).          // PUSHCONT, 7 bytes follow
		MustStoreUInt(0xD4, 8).          //   LDREF
		MustStoreUInt(0x01, 8).          //   SWAP
		MustStoreUInt(0x8100A0, 24).     //   PUSHINT 160 (16-bit form)
		MustStoreUInt(0xFB00, 16).       //   SENDRAWMSG
		MustStoreUInt(0xE4, 8).          // REPEAT
		EndCell()
}

// BicycleProxyData is the stand-in's data: owner (addr_std, no anycast)
// and subwallet id, 299 bits.
func BicycleProxyData(owner *address.Address, subwalletID uint32) *cell.Cell {
	return cell.BeginCell().MustStoreAddr(owner).MustStoreUInt(uint64(subwalletID), 32).EndCell()
}
