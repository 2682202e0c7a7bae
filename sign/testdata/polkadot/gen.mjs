// Generates polkadot.js reference values for crucible's sign package tests:
// addresses of secret URIs (hard, soft and numeric junctions, passwords),
// private keys, and sr25519 signatures over the messages crucible signs.
// Development time only:
//   npm install @polkadot/keyring@14.0.3 @polkadot/util-crypto@14.0.3 @polkadot/util@14.0.3
//   node gen.mjs > vectors.json
// With a file argument it instead verifies the signatures in that file
// (written by crucible) and prints one line per signature.
import { readFileSync } from 'node:fs';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, sr25519Verify, decodeAddress } from '@polkadot/util-crypto';
import { u8aToHex, stringToU8a, hexToU8a } from '@polkadot/util';

await cryptoWaitReady();
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });

if (process.argv[2]) {
  const file = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  for (const s of file.signatures) {
    const ok = sr25519Verify(stringToU8a(s.message), hexToU8a(s.signature), decodeAddress(s.address));
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${s.address} ${JSON.stringify(s.message)}`);
  }
  process.exit(0);
}

const dev = 'bottom drive obey lake curtain smoke basket hold race lonely fit walk';
const uris = [
  '//Alice', '//Bob', dev, '//Alice//stash', '//Alice/soft', '//Alice/soft/1', '//0', '//Alice//1//2',
  dev + '///pw', dev + '//hard/soft///pw',
  'legal winner thank year wave sausage worth useful legal winner thank yellow//validator',
  '//' + 'a-very-long-junction-name-that-needs-hashing-0123456789',
];
const keys = uris.map((uri) => {
  const pair = keyring.addFromUri(uri);
  return { uri, address: pair.address, public_key: u8aToHex(pair.publicKey) };
});
const messages = [
  '',
  'hello crucible',
  '1732000000000000000_AbCdEfGhIj:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
];
const signatures = [];
for (const uri of ['//Alice', '//Bob', '//Alice/soft']) {
  const pair = keyring.addFromUri(uri);
  for (const message of messages) {
    signatures.push({ uri, address: pair.address, message, signature: u8aToHex(pair.sign(stringToU8a(message))) });
  }
}
console.log(JSON.stringify({
  generator: 'sign/testdata/polkadot/gen.mjs with @polkadot/keyring 14.0.3 (sr25519, ss58 prefix 42)',
  keys, signatures,
}, null, 2));
