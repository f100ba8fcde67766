package tonsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/xssnick/tonutils-go/address"
)

// With Options.StateDir the network survives restarts: the chain snapshot
// (every block and state) and the network's own bookkeeping are written
// there periodically and on Close, atomically (temp file + rename).

const (
	chainFile   = "chain.snap"
	networkFile = "network.json"
)

type networkState struct {
	LiteKeySeed []byte            `json:"lite_key_seed"`
	QueryID     uint32            `json:"query_id"`
	DNS         map[string]string `json:"dns"`
	Jettons     []jettonState     `json:"jettons"`
}

type jettonState struct {
	Symbol   string     `json:"symbol"`
	Decimals int        `json:"decimals"`
	Master   string     `json:"master"`
	Kind     JettonKind `json:"kind,omitempty"`
}

func writeAtomic(path string, write func(f *os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Save writes the network to its state directory.
func (n *Network) Save() error {
	if n.opts.StateDir == "" {
		return nil
	}
	n.saveMu.Lock()
	defer n.saveMu.Unlock()
	if err := os.MkdirAll(n.opts.StateDir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := writeAtomic(filepath.Join(n.opts.StateDir, chainFile), func(f *os.File) error { return n.Chain.Snapshot(f) }); err != nil {
		return fmt.Errorf("save chain: %w", err)
	}
	st := networkState{LiteKeySeed: n.liteSeed, QueryID: n.queryID.Load(), DNS: map[string]string{}}
	for d, a := range n.DNS.Wallets() {
		st.DNS[d] = a.StringRaw()
	}
	for _, j := range n.Jettons() {
		st.Jettons = append(st.Jettons, jettonState{Symbol: j.Symbol, Decimals: j.Decimals, Master: j.Master.StringRaw(), Kind: j.Kind})
	}
	return writeAtomic(filepath.Join(n.opts.StateDir, networkFile), func(f *os.File) error {
		return json.NewEncoder(f).Encode(st)
	})
}

// loadState reads a saved network; ok=false when the directory holds none.
func loadState(dir string) (st *networkState, snap *os.File, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, networkFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	st = &networkState{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", networkFile, err)
	}
	f, err := os.Open(filepath.Join(dir, chainFile))
	if err != nil {
		return nil, nil, false, fmt.Errorf("state dir has %s but no readable %s: %w", networkFile, chainFile, err)
	}
	return st, f, true, nil
}

func (n *Network) applyState(st *networkState) error {
	n.queryID.Store(st.QueryID + 1024) // skip ids that may have been used after the last save
	for d, raw := range st.DNS {
		a, err := address.ParseRawAddr(raw)
		if err != nil {
			return fmt.Errorf("saved dns record %s: %w", d, err)
		}
		if err := n.DNS.SetWallet(d, a); err != nil {
			return err
		}
	}
	for _, j := range st.Jettons {
		a, err := address.ParseRawAddr(j.Master)
		if err != nil {
			return fmt.Errorf("saved jetton %s: %w", j.Symbol, err)
		}
		a.SetTestnetOnly(true)
		n.jettons[a.StringRaw()] = &Jetton{Symbol: j.Symbol, Decimals: j.Decimals, Master: a, Kind: j.Kind}
	}
	return nil
}
