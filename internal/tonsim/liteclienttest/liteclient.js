// Drives a tonsim liteserver with ton-lite-client (and @ton/core for
// cells), a client written independently of tonutils-go. liteclient_test.go
// starts tonsim, prepares the fixtures and runs this script with a JSON
// input on stdin; the script prints one JSON array of check results
// ({name, ok, error}) on stdout. Each check is one liteserver call (or
// mode of one) as processors and indexers make it; it verifies the answer
// the way a careful client does: Merkle proofs against the block root
// hashes, block files against their file hashes, TL-B layouts strictly.
//
// Layouts follow block.tlb and lite_api.tl of ton-blockchain/ton; the
// liteserver's behaviour follows validator/impl/liteserver.cpp.
'use strict';

const crypto = require('crypto');
const { LiteClient, LiteSingleEngine } = require('ton-lite-client');
const { Functions } = require('ton-lite-client/dist/schema');
const {
    Address, Cell, CellType, beginCell, loadTransaction, loadShardStateUnsplit, loadAccount,
    serializeTuple, parseTuple,
} = require('@ton/core');

const ALL = '-9223372036854775808'; // shard 0x8000000000000000 as a signed decimal

function fail(msg) {
    throw new Error(msg);
}

function must(cond, msg) {
    if (!cond) fail(msg);
}

function hex(b) {
    return Buffer.from(b).toString('hex');
}

function sha256(b) {
    return crypto.createHash('sha256').update(b).digest();
}

function blockIdExt(id) {
    return {
        kind: 'tonNode.blockIdExt', workchain: id.workchain, shard: id.shard, seqno: id.seqno,
        rootHash: Buffer.from(id.rootHash), fileHash: Buffer.from(id.fileHash),
    };
}

// A Merkle proof cell (!merkle_proof#03 virtual_hash:bits256 depth:uint16
// virtual_root:^X) that proves a tree whose root hash is want.
function checkMerkleProof(boc, want, what) {
    const roots = Cell.fromBoc(Buffer.from(boc));
    must(roots.length >= 1, `${what}: empty proof`);
    const p = roots[0];
    must(p.isExotic && p.type === CellType.MerkleProof, `${what}: root is not a Merkle proof cell`);
    const s = p.beginParse(true);
    s.loadUint(8);
    const claimed = s.loadBuffer(32);
    must(claimed.equals(Buffer.from(want)), `${what}: proof claims hash ${hex(claimed)}, want ${hex(want)}`);
    must(p.refs[0].hash(0).equals(Buffer.from(want)), `${what}: proof's tree hashes to ${hex(p.refs[0].hash(0))}, want ${hex(want)}`);
    return p.refs[0];
}

// ExtBlkRef: end_lt:uint64 seq_no:uint32 root_hash:bits256 file_hash:bits256
function loadExtBlkRef(s) {
    return { endLt: s.loadUintBig(64), seqno: s.loadUint(32), rootHash: s.loadBuffer(32), fileHash: s.loadBuffer(32) };
}

// block#11ef55aa global_id:int32 info:^BlockInfo value_flow:^ValueFlow
// state_update:^(MERKLE_UPDATE ShardState) extra:^BlockExtra
function loadBlockInfo(blockRoot) {
    const b = blockRoot.beginParse();
    must(b.loadUint(32) === 0x11ef55aa, 'not a block');
    b.loadInt(32);
    const info = blockRoot.refs[0];
    must(!info.isExotic, 'block info is pruned');
    const s = info.beginParse();
    must(s.loadUint(32) === 0x9bc7a987, 'bad block_info tag');
    s.loadUint(32); // version
    const notMaster = s.loadBit();
    const afterMerge = s.loadBit();
    s.loadBit(); s.loadBit(); s.loadBit(); s.loadBit(); // before_split after_split want_split want_merge
    const keyBlock = s.loadBit();
    const vertIncr = s.loadBit();
    const flags = s.loadUint(8);
    const seqno = s.loadUint(32);
    s.loadUint(32); // vert_seq_no
    must(s.loadUint(2) === 0, 'bad shard_ident tag');
    const pfxBits = s.loadUint(6);
    const workchain = s.loadInt(32);
    const prefix = s.loadUintBig(64);
    const genUtime = s.loadUint(32);
    const startLt = s.loadUintBig(64);
    const endLt = s.loadUintBig(64);
    s.loadUint(32); s.loadUint(32); s.loadUint(32); s.loadUint(32);
    if (flags & 1) s.skip(32 + 64);
    const out = { notMaster, afterMerge, keyBlock, seqno, workchain, pfxBits, prefix, genUtime, startLt, endLt, vertIncr };
    const refs = [];
    while (s.remainingRefs > 0) refs.push(s.loadRef());
    let i = 0;
    if (notMaster) out.masterRef = refs[i++];
    out.prevRef = refs[i++];
    return out;
}

function prevRefs(info) {
    const c = info.prevRef;
    must(!c.isExotic, 'prev_ref is pruned');
    if (info.afterMerge) {
        return [loadExtBlkRef(c.refs[0].beginParse()), loadExtBlkRef(c.refs[1].beginParse())];
    }
    return [loadExtBlkRef(c.beginParse())];
}

// CurrencyCollection: grams:Grams other:ExtraCurrencyCollection (HashmapE).
function loadCC(s, what) {
    const coins = s.loadCoins();
    must(!s.loadBit(), `${what}: unexpected extra currencies`);
    return coins;
}

function labelBits(m) {
    return m === 0 ? 0 : Math.ceil(Math.log2(m + 1));
}

// HmLabel ~l m: returns l (the label bits are skipped).
function loadLabel(s, m) {
    if (!s.loadBit()) { // hml_short$0
        let n = 0;
        while (s.loadBit()) n++;
        s.skip(n);
        return n;
    }
    if (!s.loadBit()) { // hml_long$10
        const n = s.loadUint(labelBits(m));
        s.skip(n);
        return n;
    }
    s.loadBit(); // hml_same$11 v
    return s.loadUint(labelBits(m));
}

// Walks HashmapAug n X CurrencyCollection strictly from slice s (the edge
// starts there): every fork carries its extra, equal to the sum of its
// children's; leaf(slice, extra) parses the value. Returns the root extra.
// own: the node has its cell to itself (not inline in a parent's value).
function walkAug(s, n, leaf, what, own) {
    const l = loadLabel(s, n);
    const m = n - l;
    if (m === 0) {
        const extra = loadCC(s, `${what} leaf extra`);
        leaf(s, extra);
        return extra;
    }
    const left = s.loadRef();
    const right = s.loadRef();
    const extra = loadCC(s, `${what} fork extra`);
    must(!own || (s.remainingBits === 0 && s.remainingRefs === 0), `${what}: fork node has ${s.remainingBits} bits and ${s.remainingRefs} refs left`);
    const sum = walkAugCell(left, m - 1, leaf, what) + walkAugCell(right, m - 1, leaf, what);
    must(sum === extra, `${what}: fork extra ${extra}, children sum to ${sum}`);
    return extra;
}

function walkAugCell(c, n, leaf, what) {
    must(!c.isExotic, `${what}: node is pruned`);
    const s = c.beginParse();
    const e = walkAug(s, n, leaf, what, true);
    return e;
}

// ShardAccountBlocks: HashmapAugE 256 AccountBlock CurrencyCollection, and
// in every AccountBlock the transactions' HashmapAug 64 ^Transaction
// CurrencyCollection; a transaction's extra is its total fees. Returns the
// number of transactions.
function checkAccountBlocks(blockRoot) {
    const extra = blockRoot.refs[3];
    const ab = extra.refs[2];
    const s = ab.beginParse();
    let txs = 0;
    const accountLeaf = (ls, accExtra) => {
        must(ls.loadUint(4) === 5, 'AccountBlock: bad acc_trans tag');
        const addr = ls.loadBuffer(32);
        const txLeaf = (ts, txExtra) => {
            const txCell = ts.loadRef();
            const tx = loadTransaction(txCell.beginParse());
            must(Buffer.from(tx.address.toString(16).padStart(64, '0'), 'hex').equals(addr), 'transaction of another account in AccountBlock');
            must(tx.totalFees.coins === txExtra, `transaction extra ${txExtra}, its total_fees ${tx.totalFees.coins}`);
            must(ts.remainingBits === 0 && ts.remainingRefs === 0, 'transaction leaf has data left');
            txs++;
        };
        const sum = walkAug(ls, 64, txLeaf, 'AccountBlock.transactions');
        must(sum === accExtra, `AccountBlock extra ${accExtra}, its transactions sum to ${sum}`);
        ls.loadRef(); // state_update
        must(ls.remainingBits === 0 && ls.remainingRefs === 0, 'AccountBlock has data left');
    };
    let root = 0n;
    if (s.loadBit()) { // ahme_root$1 root:^(HashmapAug ...) extra:Y
        const r = s.loadRef();
        root = loadCC(s, 'ShardAccountBlocks extra');
        const sum = walkAugCell(r, 256, accountLeaf, 'ShardAccountBlocks');
        must(sum === root, `ShardAccountBlocks extra ${root}, accounts sum to ${sum}`);
    } else { // ahme_empty$0 extra:Y
        root = loadCC(s, 'empty ShardAccountBlocks extra');
        must(root === 0n, 'empty ShardAccountBlocks with a non-zero extra');
    }
    must(s.remainingBits === 0 && s.remainingRefs === 0, `ShardAccountBlocks has ${s.remainingBits} bits left`);
    return txs;
}

// ShardDescr (shard_descr#b or shard_descr_new#a): seq_no reg_mc_seqno
// start_lt end_lt root_hash file_hash ...
function loadShardDescr(s) {
    const tag = s.loadUint(4);
    must(tag === 0xa || tag === 0xb, `bad ShardDescr tag ${tag}`);
    const seqno = s.loadUint(32);
    s.loadUint(32);
    s.loadUintBig(64);
    s.loadUintBig(64);
    return { seqno, rootHash: s.loadBuffer(32), fileHash: s.loadBuffer(32) };
}

// The shard tops of workchain 0 from getAllShardsInfo's data
// (ShardHashes: HashmapE 32 ^(BinTree ShardDescr)).
function shardTops(data) {
    const s = Cell.fromBoc(Buffer.from(data))[0].beginParse();
    must(s.loadBit(), 'no shard hashes');
    const dict = s.loadRef();
    const out = [];
    const walkTree = (c, shard) => {
        const t = c.beginParse();
        if (!t.loadBit()) {
            out.push({ workchain: 0, shard: BigInt.asIntN(64, shard).toString(), ...loadShardDescr(t) });
            return;
        }
        const d = (shard & -shard) >> 1n;
        walkTree(t.loadRef(), shard - d);
        walkTree(t.loadRef(), shard + d);
    };
    // one key (workchain 0): a leaf edge whose value is ^BinTree
    const ds = dict.beginParse();
    loadLabel(ds, 32);
    walkTree(ds.loadRef(), 1n << 63n);
    return out;
}

async function main() {
    const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const engine = new LiteSingleEngine({ host: `tcp://${input.host}`, publicKey: Buffer.from(input.key, 'base64') });
    engine.on('error', () => {});
    await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no ADNL connection to the liteserver in 10 s')), 10000);
        engine.once('ready', () => { clearTimeout(t); resolve(); });
    });
    const client = new LiteClient({ engine, batchSize: 1 });
    const q = (f, req, args) => engine.query(f, req, { timeout: 15000, ...args });
    const results = [];
    const ctx = {};
    const check = async (name, fn) => {
        const started = Date.now();
        try {
            await fn();
            results.push({ name, ok: true, ms: Date.now() - started });
        } catch (e) {
            results.push({ name, ok: false, error: String(e && e.message ? e.message : e), ms: Date.now() - started });
        }
    };
    const header = async (id) => {
        const h = await q(Functions.liteServer_getBlockHeader, { kind: 'liteServer.getBlockHeader', id: blockIdExt(id), mode: 0 });
        return loadBlockInfo(checkMerkleProof(h.headerProof, id.rootHash, 'header proof'));
    };
    const getBlockRaw = async (id) => {
        const r = await q(Functions.liteServer_getBlock, { kind: 'liteServer.getBlock', id: blockIdExt(id) });
        return Cell.fromBoc(r.data)[0];
    };
    const getBlock = async (id) => {
        const r = await q(Functions.liteServer_getBlock, { kind: 'liteServer.getBlock', id: blockIdExt(id) });
        const fh = sha256(r.data);
        must(fh.equals(Buffer.from(id.fileHash)), `block ${id.workchain}:${id.shard}:${id.seqno}: sha256 of the block file is ${hex(fh)}, its file_hash ${hex(id.fileHash)}`);
        const root = Cell.fromBoc(r.data)[0];
        must(root.hash().equals(Buffer.from(id.rootHash)), `block ${id.seqno}: root hash mismatch`);
        return root;
    };
    const lookup = async (workchain, shard, seqno) => {
        const r = await client.lookupBlockByID({ workchain, shard, seqno });
        return r.id;
    };
    const wallet = Address.parseRaw(input.wallet);

    await check('getMasterchainInfo', async () => {
        const mc = await client.getMasterchainInfo();
        must(mc.last.workchain === -1 && mc.last.shard === ALL && mc.last.seqno > 1, `bad last block ${JSON.stringify(mc.last)}`);
        must(mc.init.workchain === -1 && mc.stateRootHash.length === 32, 'bad init or state root');
        ctx.mc = mc.last;
    });
    await check('getMasterchainInfoExt', async () => {
        const r = await client.getMasterchainInfoExt();
        must(r.last.seqno >= ctx.mc.seqno, 'older last block than getMasterchainInfo');
        must(Math.abs(r.now - Date.now() / 1000) < 60 && r.lastUtime <= r.now + 1, `bad times now=${r.now} last_utime=${r.lastUtime}`);
    });
    await check('getTime', async () => {
        const now = await client.getCurrentTime();
        must(Math.abs(now - Date.now() / 1000) < 60, `server time ${now} is off`);
    });
    await check('getVersion', async () => {
        const v = await client.getVersion();
        must(v.version > 0, 'no version');
    });
    await check('waitMasterchainSeqno', async () => {
        const want = ctx.mc.seqno + 2;
        const r = await engine.query(Functions.liteServer_getMasterchainInfo, { kind: 'liteServer.masterchainInfo' }, { awaitSeqno: want, timeout: 15000 });
        must(r.last.seqno >= want, `waited for ${want}, got ${r.last.seqno}`);
        ctx.mc = r.last;
    });
    await check('getBlockHeader', async () => {
        const info = await header(ctx.mc);
        must(info.seqno === ctx.mc.seqno && info.workchain === -1 && !info.notMaster, 'header does not describe the block');
        const prev = prevRefs(info);
        must(prev.length === 1 && prev[0].seqno === ctx.mc.seqno - 1, 'header proof lacks the prev_ref');
        ctx.mcInfo = info;
    });
    await check('lookupBlock by seqno', async () => {
        const id = await lookup(-1, ALL, ctx.mc.seqno - 1);
        must(Buffer.from(id.rootHash).equals(prevRefs(ctx.mcInfo)[0].rootHash), 'lookup by seqno found another block than the prev_ref');
        ctx.mcPrev = id;
        ctx.busy = await lookup(0, input.busy.shard, input.busy.seqno);
        ctx.empty = await lookup(0, input.empty.shard, input.empty.seqno);
    });
    await check('getAllShardsInfo', async () => {
        const r = await client.getAllShardsInfo(ctx.mc);
        checkMerkleProof(r.proof, ctx.mc.rootHash, 'shards proof');
        const n = Object.keys(r.shards['0'] || {}).length;
        must(n === input.shards, `${n} workchain-0 shards, want ${input.shards}`);
        ctx.tops = shardTops(r.raw);
        must(ctx.tops.length === input.shards, 'ShardHashes do not list every shard');
    });
    await check('getBlock masterchain', async () => {
        const root = await getBlock(ctx.mc);
        const info = loadBlockInfo(root);
        // The prev_ref's file hash must be that of the previous block's file.
        const prev = prevRefs(info)[0];
        await getBlock({ workchain: -1, shard: ALL, seqno: prev.seqno, rootHash: prev.rootHash, fileHash: prev.fileHash });
    });
    await check('getBlock shard', async () => {
        for (const top of ctx.tops) {
            // The file hashes in the masterchain's ShardHashes, the shard
            // block's prev_ref and master_ref must all be block file hashes.
            const root = await getBlock(top);
            const info = loadBlockInfo(root);
            must(info.notMaster && info.seqno === top.seqno, 'shard block header mismatch');
            for (const p of prevRefs(info)) {
                await getBlock({ workchain: 0, shard: top.shard, seqno: p.seqno, rootHash: p.rootHash, fileHash: p.fileHash });
            }
            const mref = loadExtBlkRef(info.masterRef.beginParse());
            await getBlock({ workchain: -1, shard: ALL, seqno: mref.seqno, rootHash: mref.rootHash, fileHash: mref.fileHash });
        }
    });
    await check('getBlock accountBlocks strict', async () => {
        // A strict block parser (block.tlb): augmented dictionaries carry
        // their extras in every fork and at the root.
        const n = checkAccountBlocks(await getBlockRaw(ctx.busy));
        must(n === input.busy.txs, `strict parse found ${n} transactions, want ${input.busy.txs}`);
        must(checkAccountBlocks(await getBlockRaw(ctx.empty)) === 0, 'empty block has transactions');
        checkAccountBlocks(await getBlockRaw(ctx.mc));
    });

    const listAll = async (id, mode, count, wantProof) => {
        let after = null;
        const out = [];
        for (let page = 0; page < 100; page++) {
            const m = mode | (after ? 128 : 0) | (wantProof ? 32 : 0);
            const r = await q(Functions.liteServer_listBlockTransactions, {
                kind: 'liteServer.listBlockTransactions', id: blockIdExt(id), mode: m, count,
                after: after ? { kind: 'liteServer.transactionId3', account: after.account, lt: after.lt } : null,
                // reverse_order and want_proof are `true` flags (no bytes
                // on the wire, lite_api.tl): the mode bits say it all;
                // ton-lite-client would write a Bool for them.
                reverseOrder: null, wantProof: null,
            });
            if (wantProof) {
                const blk = checkMerkleProof(r.proof, id.rootHash, 'listBlockTransactions proof');
                // Every listed transaction must be reachable in the proof.
                must(!blk.refs[3].isExotic, 'proof prunes the block extra');
            }
            for (const t of r.ids) out.push({ account: hex(t.account), lt: BigInt(t.lt), hash: hex(t.hash) });
            must(r.ids.length <= count, 'more transactions than asked for');
            if (!r.incomplete) return out;
            must(r.ids.length > 0, 'incomplete page without transactions');
            const last = r.ids[r.ids.length - 1];
            after = { account: last.account, lt: last.lt };
        }
        fail('listBlockTransactions does not end');
    };
    await check('listBlockTransactions', async () => {
        const all = await listAll(ctx.busy, 7, 256, false);
        must(all.length === input.busy.txs, `${all.length} transactions, want ${input.busy.txs}`);
        const paged = await listAll(ctx.busy, 7, 4, false);
        must(JSON.stringify(paged.map(String)) === JSON.stringify(all.map(String)) && paged.length === all.length, 'paging lists other transactions');
        for (let i = 1; i < all.length; i++) {
            const a = all[i - 1], b = all[i];
            must(a.account < b.account || (a.account === b.account && a.lt < b.lt), 'not in (account, lt) order');
        }
        ctx.busyTxs = all;
    });
    await check('listBlockTransactions want_proof', async () => {
        const all = await listAll(ctx.busy, 7, 5, true);
        must(all.length === input.busy.txs, `${all.length} transactions with proofs, want ${input.busy.txs}`);
    });
    await check('listBlockTransactions want_proof on an empty shard block', async () => {
        const all = await listAll(ctx.empty, 7, 40, true);
        must(all.length === 0, 'transactions listed in an empty block');
    });
    await check('listBlockTransactions reverse_order', async () => {
        const rev = await listAll(ctx.busy, 7 | 64, 256, false);
        const paged = await listAll(ctx.busy, 7 | 64, 3, true);
        const want = ctx.busyTxs.slice().reverse();
        const same = (x) => x.length === want.length && x.every((t, i) => t.account === want[i].account && t.lt === want[i].lt && t.hash === want[i].hash);
        must(same(rev), 'reverse order does not list the block\'s transactions newest account first');
        must(same(paged), 'reverse order with after/paging lists other transactions');
    });
    await check('getOneTransaction', async () => {
        const t = ctx.busyTxs[ctx.busyTxs.length - 1];
        const addr = Address.parseRaw('0:' + t.account);
        const r = await client.getAccountTransaction(addr, t.lt.toString(), blockIdExt(ctx.busy));
        checkMerkleProof(r.proof, ctx.busy.rootHash, 'transaction proof');
        const tc = Cell.fromBoc(r.transaction)[0];
        must(hex(tc.hash()) === t.hash, 'transaction hash differs from the listed one');
        const tx = loadTransaction(tc.beginParse());
        must(tx.lt === t.lt, 'transaction lt differs');
    });
    await check('lookupBlock by utime', async () => {
        const cur = await header(ctx.mc);
        const prevInfo = await header(ctx.mcPrev);
        // Real liteservers answer the first block whose gen_utime is at
        // least the time asked for (ltdb, archive-slice.cpp).
        for (const [wc, shard] of [[-1, ALL], [0, input.busy.shard]]) {
            const t = wc === -1 ? cur.genUtime : (await header(ctx.busy)).genUtime;
            const r = await client.lookupBlockByUtime({ workchain: wc, shard, utime: t });
            const got = loadBlockInfo(checkMerkleProof(r.headerProof, r.id.rootHash, 'lookupBlock header proof'));
            must(got.genUtime >= t, `block ${r.id.seqno} has gen_utime ${got.genUtime} < ${t}`);
            if (r.id.seqno > 1) {
                const before = await lookup(wc, r.id.shard, r.id.seqno - 1);
                const bi = await header(before);
                must(bi.genUtime < t, `block ${r.id.seqno - 1} already has gen_utime ${bi.genUtime} >= ${t}: not the first`);
            }
        }
        must(prevInfo.genUtime <= cur.genUtime, 'gen_utime goes backwards');
    });
    await check('lookupBlock by lt', async () => {
        const t = ctx.busyTxs[0];
        for (const [wc, shard, lt] of [[0, input.busy.shard, t.lt], [-1, ALL, ctx.mcInfo.startLt]]) {
            const r = await client.lookupBlockByLt({ workchain: wc, shard, lt });
            const got = loadBlockInfo(checkMerkleProof(r.headerProof, r.id.rootHash, 'lookupBlock header proof'));
            must(got.startLt <= lt && lt < got.endLt, `block ${wc}:${r.id.seqno} covers lt [${got.startLt}, ${got.endLt}), not ${lt}`);
        }
    });
    await check('getAccountState', async () => {
        const st = await client.getAccountState(wallet, ctx.mc);
        must(st.state && st.state.storage.state.type === 'active', 'wallet is not active');
        must(st.balance.coins === BigInt(input.walletBalance), `balance ${st.balance.coins}, want ${input.walletBalance}`);
        must(st.lastTx && st.lastTx.lt.toString() === input.walletLastLt, `last tx lt ${st.lastTx && st.lastTx.lt}, want ${input.walletLastLt}`);
        const proofs = Cell.fromBoc(st.proof);
        must(proofs.length === 2, 'account proof is not [block proof, state proof]');
        checkMerkleProof(proofs[0].toBoc(), st.shardBlock.rootHash, 'account block proof');
        const shardProofs = Cell.fromBoc(st.shardProof);
        checkMerkleProof(shardProofs[0].toBoc(), ctx.mc.rootHash, 'account shard proof');
        ctx.accountHash = Cell.fromBoc(st.raw)[0].hash();
        ctx.accountRaw = Cell.fromBoc(st.raw)[0];
    });
    await check('getAccountStatePrunned', async () => {
        const r = await client.getAccountStatePrunned(wallet, ctx.mc);
        must(r.stateHash && r.stateHash.equals(ctx.accountHash), 'pruned state does not prove the account');
        const p = Cell.fromBoc(r.raw)[0];
        const acc = checkMerkleProof(r.raw, ctx.accountHash, 'pruned account');
        // Code and data are pruned (liteserver.cpp: "does not include code,
        // data and libs into proof"); the account cell itself is there.
        must(acc.refs.length >= 2 && acc.refs.every((c) => c.isExotic && c.type === CellType.PrunedBranch), `code and data are not pruned (refs: ${acc.refs.map((c) => c.type).join(',')})`);
        must(acc.bits.equals(ctx.accountRaw.bits), 'pruned account cell differs');
        must(p.depth() >= 1, 'bad proof depth');
        const a = loadAccount(acc.beginParse().skip(1));
        must(a.storage.balance.coins === BigInt(input.walletBalance), 'pruned account balance differs');
    });
    await check('getTransactions', async () => {
        const r = await client.getAccountTransactions(wallet, input.walletLastLt, Buffer.from(input.walletLastHash, 'hex'), 10);
        const txs = Cell.fromBoc(r.transactions);
        must(txs.length === r.ids.length && txs.length >= 2, `${txs.length} transactions, ${r.ids.length} block ids`);
        let lt = BigInt(input.walletLastLt), hash = input.walletLastHash;
        for (const c of txs) {
            must(hex(c.hash()) === hash, 'transaction list does not follow prev_trans_hash');
            const tx = loadTransaction(c.beginParse());
            must(tx.lt === lt, 'transaction list does not follow prev_trans_lt');
            lt = tx.prevTransactionLt;
            hash = tx.prevTransactionHash.toString(16).padStart(64, '0');
        }
    });
    await check('runSmcMethod', async () => {
        const seqno = await client.runMethod(wallet, 'seqno', Buffer.alloc(0), ctx.mc);
        must(seqno.exitCode === 0, `seqno exit code ${seqno.exitCode}`);
        must(parseTuple(Cell.fromBoc(Buffer.from(seqno.result, 'base64'))[0])[0].value === BigInt(input.walletSeqno), 'wrong seqno');
        const params = serializeTuple([{ type: 'slice', cell: beginCell().storeAddress(Address.parseRaw(input.jetton.owner)).endCell() }]).toBoc();
        const r = await client.runMethod(Address.parseRaw(input.jetton.master), 'get_wallet_address', params, ctx.mc);
        must(r.exitCode === 0, `get_wallet_address exit code ${r.exitCode}`);
        const item = parseTuple(Cell.fromBoc(Buffer.from(r.result, 'base64'))[0])[0];
        const got = item.cell.beginParse().loadAddress();
        must(got.equals(Address.parseRaw(input.jetton.wallet)), `jetton wallet ${got.toRawString()}, want ${input.jetton.wallet}`);
        const data = await client.runMethod(Address.parseRaw(input.jetton.master), 'get_jetton_data', Buffer.alloc(0), ctx.mc);
        const supply = parseTuple(Cell.fromBoc(Buffer.from(data.result, 'base64'))[0])[0].value;
        must(supply === BigInt(input.jetton.supply), `jetton supply ${supply}, want ${input.jetton.supply}`);
    });
    await check('getConfigAll', async () => {
        const r = await q(Functions.liteServer_getConfigAll, { kind: 'liteServer.getConfigAll', id: blockIdExt(ctx.mc), mode: 0 });
        checkMerkleProof(r.stateProof, ctx.mc.rootHash, 'config block proof');
        // ton-lite-client's own parser (@ton/core's McStateExtra reader).
        const extra = await client.getConfig(ctx.mc);
        must(extra.configAddress === BigInt('0x' + input.configAddr), `config address ${extra.configAddress.toString(16)}, want param 0 ${input.configAddr}`);
        must(extra.config.get(0) && extra.config.get(19) && extra.config.get(4), `config dictionary lost params (${extra.config.size} params)`);
        // McStateExtra by block.tlb (masterchain_state_extra#cc26
        // shard_hashes:ShardHashes config:ConfigParams ^[...]
        // global_balance:CurrencyCollection).
        const state = Cell.fromBoc(r.configProof)[0].refs[0];
        const mse = state.refs[3].beginParse();
        must(mse.loadUint(16) === 0xcc26, 'bad McStateExtra tag');
        if (mse.loadBit()) mse.loadRef();
        must(hex(mse.loadBuffer(32)) === input.configAddr, 'McStateExtra config_addr is not param 0');
        mse.loadRef(); // config
        mse.loadRef(); // validator info, prev blocks, ...
        const balance = loadCC(mse, 'global_balance');
        must(balance === BigInt(input.supply), `global balance ${balance}, want the total supply ${input.supply}`);
    });
    await check('getConfigParams', async () => {
        const r = await q(Functions.liteServer_getConfigParams, { kind: 'liteServer.getConfigParams', id: blockIdExt(ctx.mc), mode: 0, paramList: [0, 19] });
        checkMerkleProof(r.stateProof, ctx.mc.rootHash, 'config block proof');
        const st = loadShardStateUnsplit(Cell.fromBoc(r.configProof)[0].refs[0].beginParse());
        const p19 = st.extras.config.get(19);
        must(p19 && p19.beginParse().loadInt(32) === -3, 'param 19 is not the global id');
    });
    await check('getLibraries', async () => {
        const r = await client.getLibraries([Buffer.alloc(32, 1)]);
        must(Array.isArray(r.result) && r.result.length === 0, 'unknown library returned');
    });
    await check('sendMessage', async () => {
        const r = await client.sendMessage(Buffer.from(input.ext, 'base64'));
        must(r.status === 1, `status ${r.status}`);
        const dst = Address.parseRaw(input.extTo);
        for (let i = 0; i < 100; i++) {
            const mc = await client.getMasterchainInfo();
            const st = await client.getAccountState(dst, mc.last);
            if (st.balance.coins >= BigInt(input.extAmount)) return;
            await new Promise((res) => setTimeout(res, 200));
        }
        fail('the sent transfer never arrived');
    });
    engine.close();
    process.stdout.write(JSON.stringify(results) + '\n');
    process.exit(0);
}

main().catch((e) => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
    process.exit(1);
});
