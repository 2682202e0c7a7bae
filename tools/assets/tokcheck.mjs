// Checks crucible's trained tokenizer against Hugging Face's reference
// JavaScript implementation (@huggingface/tokenizers, the tokenizer of
// Transformers.js): every case's ids, as crucible encoded them, must be
// what the reference produces from the same tokenizer.json, and decoding
// must give the text back. Run by `go run ./tools/assets tokcheck`, which
// installs the package in its work directory.
//
//   node tokcheck.mjs TOKENIZER_DIR CASES_JSON
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, casesPath] = process.argv.slice(2);
const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
const tok = new Tokenizer(tj, tc);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));

let tokens = 0, mismatches = 0, decodeMismatches = 0;
for (const c of cases) {
  const ids = tok.encode(c.text).ids;
  tokens += ids.length;
  const same = ids.length === c.ids.length && ids.every((v, i) => v === c.ids[i]);
  if (!same) {
    mismatches++;
    if (mismatches <= 5) {
      console.log(`MISMATCH ${JSON.stringify(c.text.slice(0, 80))}\n  crucible:  ${c.ids.slice(0, 20)}\n  reference: ${ids.slice(0, 20)}`);
    }
  }
  if (!c.special && ids.length > 0 && tok.decode(ids) !== c.text) {
    decodeMismatches++;
    if (decodeMismatches <= 5) console.log(`DECODE MISMATCH ${JSON.stringify(c.text.slice(0, 80))}`);
  }
}
console.log(`@huggingface/tokenizers: ${cases.length} texts, ${tokens} tokens, ${mismatches} id mismatches, ${decodeMismatches} decode mismatches`);
process.exit(mismatches + decodeMismatches === 0 ? 0 : 1);
