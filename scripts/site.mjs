// Assembles target/site from the release build in cargo-leptos's layout: the static files of
// public/, the stylesheet and the WASM bundle under pkg/ with their content's hash in their
// names (cached for a year, see src/server/http/headers.rs), the names in hash.txt beside the
// server binary (where Leptos reads them), and a .br and a .gz beside every file. The JS and
// the CSS are minified by esbuild (installed by scripts/lib.sh), as cargo-leptos did.
//   node scripts/site.mjs <wasm-bindgen output dir> <site root> <binary dir>
// (from scripts/lib.sh's build_release, which puts esbuild on the PATH)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const NAME = 'speckle-tokens';
const [bindgenDir, siteRoot, binDir] = process.argv.slice(2);
if (!bindgenDir || !siteRoot || !binDir) {
  console.error('usage: node scripts/site.mjs <wasm-bindgen dir> <site root> <binary dir>');
  process.exit(2);
}

// cargo-leptos's hash: MD5, base64url without padding.
const hash = (bytes) => createHash('md5').update(bytes).digest('base64url');

rmSync(siteRoot, { recursive: true, force: true });
mkdirSync(join(siteRoot, 'pkg'), { recursive: true });
cpSync('public', siteRoot, { recursive: true });

// esbuild's minifier on one file (its module's exports and strings kept).
const minify = (text, loader) =>
  execFileSync('esbuild', ['--minify', `--loader=${loader}`, ...(loader === 'js' ? ['--format=esm'] : [])], {
    input: text,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });

const wasm = readFileSync(join(bindgenDir, `${NAME}_bg.wasm`));
const css = minify(readFileSync('style/main.css', 'utf8'), 'css');
const hashes = { wasm: hash(wasm), css: hash(css) };
// The JS loads the WASM by name when no name is given: point it at the hashed one.
const js = minify(
  readFileSync(join(bindgenDir, `${NAME}.js`), 'utf8').replaceAll(`${NAME}_bg.wasm`, `${NAME}.${hashes.wasm}.wasm`),
  'js',
);
hashes.js = hash(js);

writeFileSync(join(siteRoot, 'pkg', `${NAME}.${hashes.wasm}.wasm`), wasm);
writeFileSync(join(siteRoot, 'pkg', `${NAME}.${hashes.css}.css`), css);
writeFileSync(join(siteRoot, 'pkg', `${NAME}.${hashes.js}.js`), js);
// JS that crates inline through wasm-bindgen (`inline_js`, `module = …`), imported by path.
if (existsSync(join(bindgenDir, 'snippets'))) {
  cpSync(join(bindgenDir, 'snippets'), join(siteRoot, 'pkg', 'snippets'), { recursive: true });
}
writeFileSync(join(binDir, 'hash.txt'), `js: ${hashes.js}\nwasm: ${hashes.wasm}\ncss: ${hashes.css}\n`);

// Browsers get the smallest encoding they accept (tower-http's precompressed files).
const compress = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      compress(path);
    } else if (!path.endsWith('.br') && !path.endsWith('.gz')) {
      const bytes = readFileSync(path);
      writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
      writeFileSync(`${path}.br`, brotliCompressSync(bytes, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      }));
    }
  }
};
compress(siteRoot);
const kB = (n) => `${Math.round(n / 1024)} kB`;
const br = (file) => statSync(join(siteRoot, 'pkg', `${file}.br`)).size;
console.log(`site: ${siteRoot} (WASM ${kB(wasm.length)}, ${kB(br(`${NAME}.${hashes.wasm}.wasm`))} brotli; ` +
  `JS ${kB(Buffer.byteLength(js))}; CSS ${kB(Buffer.byteLength(css))})`);
