package chain

import (
	"bytes"
	"fmt"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Public libraries, as on TON: a masterchain account publishes a code cell
// with SETLIBCODE mode 2 (it lands in its StateInit's library dictionary
// as simple_lib$_ public:Bool root:^Cell), and from then on every account
// may hold a library cell (exotic type 2: the code's hash) in place of that
// code. Transactions and get methods resolve such cells through the
// collection of all public libraries, which liteserver getLibraries serves.

// MaxLibrariesPerQuery is how many hashes one getLibraries may ask for
// (a liteserver refuses more).
const MaxLibrariesPerQuery = 16

// libraryDict is the HashmapE 256 ^Cell the emulator takes, from the public
// libraries of infos (the masterchain accounts). Keys are the code hashes.
func libraryDict(infos []AccountInfo) (*cell.Dictionary, error) {
	d := cell.NewDict(256)
	for _, info := range infos {
		if info.Libs == nil {
			continue
		}
		kvs, err := info.Libs.LoadAll()
		if err != nil {
			return nil, fmt.Errorf("account libraries: %w", err)
		}
		for _, kv := range kvs {
			public, err := kv.Value.LoadBoolBit()
			if err != nil {
				return nil, fmt.Errorf("account library: %w", err)
			}
			root, err := kv.Value.LoadRef()
			if err != nil {
				return nil, fmt.Errorf("account library: %w", err)
			}
			if !public {
				continue
			}
			code, err := root.ToCell()
			if err != nil {
				return nil, fmt.Errorf("account library: %w", err)
			}
			if err := d.Set(kv.Key.MustToCell(), cell.BeginCell().MustStoreRef(code).EndCell()); err != nil {
				return nil, fmt.Errorf("library dictionary: %w", err)
			}
		}
	}
	return d, nil
}

// refreshLibraries rebuilds the public library collection from the
// masterchain accounts; called with c.mu held for writing whenever one of
// them changed.
func (c *Chain) refreshLibraries() error {
	var infos []AccountInfo
	for k, a := range c.accounts {
		if k.wc == -1 && a.info.Libs != nil {
			infos = append(infos, a.info)
		}
	}
	d, err := libraryDict(infos)
	if err != nil {
		return err
	}
	if d.IsEmpty() {
		c.libs = nil
		return nil
	}
	c.libs = d
	return nil
}

// librariesCell is what the emulator takes (nil: there are none).
func (c *Chain) librariesCell() *cell.Cell {
	if c.libs == nil {
		return nil
	}
	return c.libs.AsCell()
}

// Libraries is the public library collection (HashmapE 256 ^Cell keyed by
// code hash), nil while no library is published.
func (c *Chain) Libraries() *cell.Cell {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.librariesCell()
}

// Library returns the public library whose code hash is hash, or nil.
func (c *Chain) Library(hash []byte) *cell.Cell {
	if len(hash) != 32 {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.libs == nil {
		return nil
	}
	v, err := c.libs.LoadValue(cell.BeginCell().MustStoreSlice(hash, 256).EndCell())
	if err != nil {
		return nil
	}
	ref, err := v.LoadRef()
	if err != nil {
		return nil
	}
	code, err := ref.ToCell()
	if err != nil || !bytes.Equal(code.Hash(), hash) {
		return nil
	}
	return code
}
