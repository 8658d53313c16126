// Serves a secret scanning key list as GitHub does, for a P-256 key made at start; its
// private half goes to ../target/e2e/scanning-key.pem, where the tests sign with it.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const port = Number(process.argv[2] ?? 3199);
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyFile = join(dirname(fileURLToPath(import.meta.url)), '../../target/e2e/scanning-key.pem');
mkdirSync(dirname(keyFile), { recursive: true });
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
const list = JSON.stringify({
  public_keys: [{ key_identifier: 'e2e-key', key: publicKey.export({ type: 'spki', format: 'pem' }), is_current: true }],
});
createServer((request, response) => {
  response.writeHead(200, { 'Content-Type': 'application/json' });
  response.end(list);
}).listen(port, '127.0.0.1');
