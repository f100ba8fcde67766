package store

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgx encodes a *big.Int query argument as NUMERIC (nil as NULL) but
// cannot scan NUMERIC into one; these scan targets close that gap so
// amounts stay *big.Int from the database to JSON.

// BigInt returns a scan target that stores a NUMERIC value into dst, e.g.
// row.Scan(store.BigInt(&amount)) with amount a big.Int. NULL, NaN,
// infinities and fractions are errors.
func BigInt(dst *big.Int) pgtype.NumericScanner {
	return &bigIntScanner{dst: dst}
}

// NullBigInt is BigInt for nullable columns: *dst becomes nil on NULL,
// otherwise a new *big.Int.
func NullBigInt(dst **big.Int) pgtype.NumericScanner {
	return &nullBigIntScanner{dst: dst}
}

type bigIntScanner struct{ dst *big.Int }

func (s *bigIntScanner) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid {
		return errors.New("store: NULL where an integer amount was expected")
	}
	return numericToBig(v, s.dst)
}

type nullBigIntScanner struct{ dst **big.Int }

func (s *nullBigIntScanner) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid {
		*s.dst = nil
		return nil
	}
	x := new(big.Int)
	if err := numericToBig(v, x); err != nil {
		return err
	}
	*s.dst = x
	return nil
}

var bigTen = big.NewInt(10)

// numericToBig sets dst to v, which pgx hands over as Int * 10^Exp.
func numericToBig(v pgtype.Numeric, dst *big.Int) error {
	if v.NaN || v.InfinityModifier != pgtype.Finite || v.Int == nil {
		return errors.New("store: NUMERIC value is not a finite number")
	}
	if v.Exp >= 0 {
		scale := new(big.Int).Exp(bigTen, big.NewInt(int64(v.Exp)), nil)
		dst.Mul(v.Int, scale)
		return nil
	}
	scale := new(big.Int).Exp(bigTen, big.NewInt(int64(-v.Exp)), nil)
	q, r := new(big.Int).QuoRem(v.Int, scale, new(big.Int))
	if r.Sign() != 0 {
		return fmt.Errorf("store: NUMERIC value has a fraction (scale %d), expected an integer amount", -v.Exp)
	}
	dst.Set(q)
	return nil
}
