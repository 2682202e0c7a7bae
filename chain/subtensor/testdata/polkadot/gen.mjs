// Reference values for crucible's Subtensor client, computed by polkadot.js
// (an implementation independent of crucible's) from the real metadata and
// recorded chain responses under ../bittensor-sdk and ../bitgo.
// Development time only:
//   npm install @polkadot/api@16.5.6 @polkadot/types@16.5.6
//   node gen.mjs | gzip -9n > reference.json.gz
// With an argument (a JSON file of extrinsics written by crucible's tests
// with CRUCIBLE_WRITE_EXTRINSICS=FILE) it instead decodes each extrinsic
// with the real metadata, verifies its signature and prints what it holds.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { TypeRegistry, Metadata, expandMetadata } from '@polkadot/types';
import { cryptoWaitReady, signatureVerify, blake2AsHex, decodeAddress } from '@polkadot/util-crypto';
import { u8aToHex, hexToU8a } from '@polkadot/util';

const read = (p) => gunzipSync(readFileSync(new URL(p, import.meta.url))).toString('utf8').trim();

function load(path) {
  let hex = read(path);
  const registry = new TypeRegistry();
  if (hex.startsWith('0x01')) hex = registry.createType('Option<Bytes>', hexToU8a(hex)).unwrap().toHex();
  const md = new Metadata(registry, hex);
  registry.setMetadata(md);
  return { registry, md, expanded: expandMetadata(registry, md) };
}

const blobs = {
  'bittensor-sdk/metadata_v14_spec343.hex.gz': '../bittensor-sdk/metadata_v14_spec343.hex.gz',
  'bittensor-sdk/metadata_at_version_15_spec343.hex.gz': '../bittensor-sdk/metadata_at_version_15_spec343.hex.gz',
  'bitgo/metadata_v14_mainnet_spec219.hex.gz': '../bitgo/metadata_v14_mainnet_spec219.hex.gz',
  'bitgo/metadata_v14_testnet_spec233.hex.gz': '../bitgo/metadata_v14_testnet_spec233.hex.gz',
};
const calls = ['set_weights', 'commit_weights', 'reveal_weights', 'serve_axon', 'burned_register', 'add_stake'];
const items = ['Uids', 'Keys', 'Axons', 'Tempo', 'WeightsSetRateLimit', 'LastUpdate', 'CommitRevealWeightsEnabled', 'RevealPeriodEpochs', 'MaxWeightsLimit', 'WeightsVersionKey'];
const alice = '0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d';

if (process.argv[2]) {
  await cryptoWaitReady();
  const file = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  for (const x of file.extrinsics) {
    const { registry } = load(blobs[x.metadata]);
    const ext = registry.createType('Extrinsic', x.hex);
    const payload = registry.createType('ExtrinsicPayload', {
      method: ext.method.toHex(), era: ext.era, nonce: ext.nonce, tip: ext.tip, mode: x.mode ?? 0,
      specVersion: x.spec_version, transactionVersion: x.transaction_version,
      genesisHash: x.genesis_hash, blockHash: x.block_hash,
    }, { version: 4 });
    const sig = ext.signature.isSr25519 ? ext.signature.asSr25519 : ext.signature;
    const res = signatureVerify(payload.toU8a({ method: true }), sig.toU8a(), decodeAddress(ext.signer.toString()));
    const ok = res.isValid && res.crypto === 'sr25519';
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${x.name}: ${ext.method.section}.${ext.method.method} ${JSON.stringify(ext.method.args)} signer=${ext.signer} nonce=${ext.nonce} tip=${ext.tip} era=${JSON.stringify(ext.era.toJSON())}`);
  }
  process.exit(0);
}

const out = { generator: 'polkadot.js @polkadot/types 16.5.6', metadata: {} };
for (const [name, path] of Object.entries(blobs)) {
  const { registry, md, expanded } = load(path);
  const latest = md.asLatest;
  const sys = latest.pallets.find((p) => p.name.toString() === 'System');
  const ver = registry.createType('RuntimeVersion', sys.constants.find((c) => c.name.toString() === 'Version').value);
  const st = latest.pallets.find((p) => p.name.toString() === 'SubtensorModule');
  const variants = registry.lookup.getSiType(st.calls.unwrap().type).def.asVariant.variants;
  const r = {
    version: md.version,
    spec_name: ver.specName.toString(),
    spec_version: ver.specVersion.toNumber(),
    transaction_version: ver.transactionVersion.toNumber(),
    types: registry.lookup.types.length,
    pallets: latest.pallets.map((p) => ({ name: p.name.toString(), index: p.index.toNumber() })),
    extensions: (latest.extrinsic.signedExtensions || latest.extrinsic.transactionExtensions).map((e) => e.identifier.toString()),
    calls: {},
    storage: {},
  };
  for (const c of calls) {
    const v = variants.find((x) => x.name.toString() === c);
    if (v) r.calls[c] = { index: v.index.toNumber(), args: v.fields.map((f) => f.name.toString()) };
  }
  for (const it of items) {
    const e = st.storage.unwrap().items.find((x) => x.name.toString() === it);
    if (!e) continue;
    r.storage[it] = e.type.isMap ? e.type.asMap.hashers.map((h) => h.toString()) : [];
  }
  const q = expanded.query.subtensorModule;
  r.keys = {
    'Tempo(23)': u8aToHex(q.tempo(23)),
    'Uids(1, alice)': u8aToHex(q.uids(1, alice)),
    'Axons(56, alice)': u8aToHex(q.axons(56, alice)),
    'Keys(56, 7)': u8aToHex(q.keys(56, 7)),
    'System.Account(alice)': u8aToHex(expanded.query.system.account(alice)),
  };
  out.metadata[name] = r;
}

// The metagraph of netuid 1 at block 6852690 (spec 343) as recorded by the
// Bittensor SDK, decoded with the runtime API's output type from the V15
// metadata.
{
  const { registry, md } = load(blobs['bittensor-sdk/metadata_at_version_15_spec343.hex.gz']);
  const rec = JSON.parse(read('../bittensor-sdk/websocket_responses.json.gz')).metagraph;
  const params = Object.keys(rec.state_call).find((p) => p.includes('NeuronInfoRuntimeApi_get_neurons_lite'));
  const api = md.asLatest.apis.find((a) => a.name.toString() === 'NeuronInfoRuntimeApi');
  const m = api.methods.find((x) => x.name.toString() === 'get_neurons_lite');
  const v = registry.createTypeUnsafe(`Lookup${m.output.toNumber()}`, [hexToU8a(rec.state_call[params].result)]);
  const list = typeof v.unwrap === "function" ? v.unwrap() : v;
  const neurons = list.map((n) => {
    const j = n.toJSON();
    const stake = n.stake.reduce((s, [, amt]) => s + BigInt(amt.toString()), 0n);
    return {
      uid: j.uid, hotkey: n.hotkey.toString(), coldkey: n.coldkey.toString(), active: j.active,
      ip: j.axonInfo.ip.toString(), ip_type: j.axonInfo.ipType, port: j.axonInfo.port, stake_rao: stake.toString(),
      validator_permit: j.validatorPermit, last_update: j.lastUpdate, incentive: j.incentive,
      dividends: j.dividends, consensus: j.consensus, validator_trust: j.validatorTrust, emission: j.emission.toString(),
    };
  });
  out.neurons_lite_netuid1 = { block: 6852690, params: JSON.parse(params), count: neurons.length, neurons };
}
// Mortal eras (current block, period) as polkadot.js encodes them.
{
  const registry = new TypeRegistry();
  out.eras = [[3876170, 64], [0, 64], [100, 4], [5, 128], [70000, 65536], [6852690, 64], [1234567, 2048], [9233529, 256]].map(([current, period]) =>
    ({ current, period, hex: registry.createType('ExtrinsicEra', { current, period }).toHex() }));
}
// Subtensor's commit hash (get_commit_hash) of a fixed commit.
{
  const { registry } = load(blobs['bittensor-sdk/metadata_at_version_15_spec343.hex.gz']);
  const tuple = registry.createType('(AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)',
    [alice, 56, [0, 3, 7], [65535, 1200, 7], [9, 8, 7, 6, 5, 4, 3, 2], 61000]);
  out.commit_hash = blake2AsHex(tuple.toU8a(), 256);
}
console.log(JSON.stringify(out, null, 1));
