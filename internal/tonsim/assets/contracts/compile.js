// Compiles the FunC contracts named on the command line (file names without
// .fc, from this directory) with the pinned @ton-community/func-js and
// prints {"name": "<base64 code BoC>", ...} on stdout. internal/tonsim/assets
// runs it at fetch time and checks every code hash against the recorded one.
'use strict';
const fs = require('fs');
const path = require('path');
const { compileFunc, compilerVersion } = require('@ton-community/func-js');

async function main() {
    const names = process.argv.slice(2);
    if (names.length === 0) {
        throw new Error('usage: node compile.js NAME...');
    }
    const read = (p) => {
        // Sources are only the .fc files next to this script.
        if (p !== path.basename(p) || !p.endsWith('.fc')) {
            throw new Error(`unexpected include ${p}`);
        }
        return fs.readFileSync(path.join(__dirname, p), 'utf8');
    };
    const out = { func_version: (await compilerVersion()).funcVersion, code: {} };
    for (const name of names) {
        const r = await compileFunc({ targets: [name + '.fc'], sources: read });
        if (r.status !== 'ok') {
            throw new Error(`${name}.fc: ${r.message}`);
        }
        out.code[name] = r.codeBoc;
    }
    process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
    process.stderr.write(String(e && e.message ? e.message : e) + '\n');
    process.exit(1);
});
