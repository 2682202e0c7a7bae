// Generates the golden files of ml/tokenizer from the Hugging Face JS
// implementation (@huggingface/tokenizers, @huggingface/jinja):
//
//   testdata/<model>/golden.json  ids, tokens and decoded text of every text in
//                                 testdata/corpus.json (add_special_tokens false)
//   testdata/<model>/golden_random.json  ids of 500 random texts built from
//                                 atoms that stress the split patterns
//   testdata/<model>/chat.json    each conversation of testdata/chat.json
//                                 rendered with the model's chat template
//   testdata/templates_golden.json  the templates of testdata/templates.json
//                                 rendered on the same conversations
//
// The chat renderings are then rewritten by chat_templates.py with Python's
// jinja2 as transformers configures it (the reference this engine ports),
// which reports where the two differ.
//
// Run from this directory: npm install && node gen.mjs
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

const testdata = path.resolve("../../../ml/tokenizer/testdata");
const models = ["gpt2", "qwen3", "mistral", "trained", "gemma3", "gpt4o"];

// chatML is the template crucible uses when a model has none.
const chatML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function readJSON(file) {
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8"));
  if (fs.existsSync(file + ".gz")) return JSON.parse(zlib.gunzipSync(fs.readFileSync(file + ".gz")).toString("utf8"));
  return null;
}

function tokenString(cfg, field) {
  const v = cfg[field];
  if (v == null) return undefined;
  return typeof v === "string" ? v : v.content;
}

// randomTexts builds texts from atoms chosen to stress the split patterns
// and added-token matching, with a fixed seed so the output is reproducible.
function randomTexts(count) {
  const atoms = [
    "a", "b", "Z", "é", "ß", "Ж", "ω", "中", "文", "あ", "한", "ا", "ก", "ſ",
    "0", "7", "42", "123", "٣", "½", "Ⅻ",
    " ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\v", "\f",
    "'", "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'Ll", "'d", "'x",
    ".", ",", "!", "?", "-", "_", "(", ")", "\"", "#", "/", "\\", "<", ">", "|", "…", "—", "▁",
    "😀", "👍🏽", "🇺🇸", "\u200d", "\u0301", "the", " the", " of", "ing", "tion",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<think>", "<0x41>",
  ];
  let state = 12345;
  const rand = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rand() * 40);
    let s = "";
    for (let k = 0; k < n; k++) s += atoms[Math.floor(rand() * atoms.length)];
    out.push(s);
  }
  return out;
}

// tekkenPattern is the split pattern of Mistral's Tekken tokenizer.
const tekkenPattern =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// variants are tokenizers derived from the stored ones by editing a few
// fields, to cover configurations real models use without storing another
// vocabulary: Llama 3's split pattern with ignore_merges on Qwen3's
// vocabulary (with lstrip and rstrip added tokens), the Metaspace pre-tokenizer and decoder that newer exports
// of Llama 2 and Mistral use instead of Prepend/Replace normalizers, and
// normalized and stripping added tokens on Mistral's Prepend normalizer. The Go
// tests apply the same edits (variants_test.go).
const variants = {
  "qwen3-llama3": {
    base: "qwen3",
    edit(tj) {
      tj.pre_tokenizer.pretokenizers[0].pattern.Regex = tj.pre_tokenizer.pretokenizers[0].pattern.Regex.replace("\\p{N}|", "\\p{N}{1,3}|");
      tj.model.ignore_merges = true;
      tj.normalizer = null;
      for (const a of tj.added_tokens) {
        if (a.content === "<|im_end|>") a.lstrip = true;
        if (a.content === "<|im_start|>") a.rstrip = true;
      }
    },
  },
  "mistral-metaspace": {
    base: "mistral",
    edit(tj) {
      tj.normalizer = null;
      tj.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
      tj.decoder = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
    },
  },
  "mistral-metaspace-split": {
    base: "mistral",
    edit(tj) {
      tj.normalizer = null;
      tj.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
      tj.decoder = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
    },
  },
  // Phi-3: Llama 2's vocabulary with its chat tokens added (rstrip, special).
  phi3: {
    base: "mistral",
    edit(tj) {
      const add = (id, content, rstrip) =>
        tj.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip, normalized: false, special: true });
      add(32000, "<|endoftext|>", false);
      add(32001, "<|assistant|>", true);
      add(32006, "<|system|>", true);
      add(32007, "<|end|>", true);
      add(32010, "<|user|>", true);
    },
  },
  // SmolLM2: digits one by one, then byte-level with GPT-2's pattern. Its
  // tokenizer.json says Digits(individual_digits); the Rust implementation
  // splits at char::is_numeric (every Unicode number), while this JS port
  // matches only ASCII \d, so the golden is made with the equivalent Split
  // on \p{N} and the Go test loads the Digits form (variants_test.go).
  smollm2: {
    base: "gpt2",
    edit(tj) {
      tj.pre_tokenizer = {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: "\\p{N}" }, behavior: "Isolated", invert: false },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
        ],
      };
    },
  },
  // Mistral's Tekken (Nemo, Ministral): its split pattern, Isolated, then
  // byte-level without a pattern, on GPT-2's byte-level vocabulary (the
  // split is what differs; a small vocabulary keeps the test fast).
  tekken: {
    base: "gpt2",
    edit(tj) {
      tj.pre_tokenizer = {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: tekkenPattern }, behavior: "Isolated", invert: false },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      };
    },
  },
  "mistral-added": {
    base: "mistral",
    edit(tj) {
      tj.added_tokens.push(
        { id: 32000, content: "gopher", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
        { id: 32001, content: "[INST]", single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
      );
    },
  },
};

const corpus = readJSON(path.join(testdata, "corpus.json"));
const random = randomTexts(500);
const chats = readJSON(path.join(testdata, "chat.json"));

for (const model of [...models, ...Object.keys(variants)]) {
  const dir = path.join(testdata, model);
  const variant = variants[model];
  const srcDir = variant ? path.join(testdata, variant.base) : dir;
  const tj = readJSON(path.join(srcDir, "tokenizer.json"));
  const cfg = readJSON(path.join(srcDir, "tokenizer_config.json")) ?? {};
  if (variant) {
    variant.edit(tj);
    fs.mkdirSync(dir, { recursive: true });
  }
  const tok = new Tokenizer(tj, cfg);
  const cases = corpus.map((text) => {
    const enc = tok.encode(text, { add_special_tokens: false });
    return { text, ids: enc.ids, decoded: enc.ids.length ? tok.decode(enc.ids) : "" };
  });
  fs.writeFileSync(path.join(dir, "golden.json"), JSON.stringify(cases, null, 0).replaceAll('},{"text"', '},\n{"text"') + "\n");
  const randomCases = random.map((text) => ({ text, ids: tok.encode(text, { add_special_tokens: false }).ids }));
  fs.writeFileSync(path.join(dir, "golden_random.json"), JSON.stringify(randomCases, null, 0).replaceAll('},{"text"', '},\n{"text"') + "\n");

  const template = new Template(typeof cfg.chat_template === "string" ? cfg.chat_template : chatML);
  // A template that raises (Gemma's on roles that do not alternate) records
  // the error instead of the text.
  const rendered = chats.map((c) => {
    const out = { name: c.name, add_generation_prompt: c.add_generation_prompt };
    try {
      out.text = template.render({
        messages: c.messages,
        add_generation_prompt: c.add_generation_prompt,
        bos_token: tokenString(cfg, "bos_token"),
        eos_token: tokenString(cfg, "eos_token"),
        pad_token: tokenString(cfg, "pad_token"),
        unk_token: tokenString(cfg, "unk_token"),
      });
    } catch (e) {
      out.error = true;
    }
    return out;
  });
  fs.writeFileSync(path.join(dir, "chat.json"), JSON.stringify(rendered, null, 1) + "\n");
  console.log(`${model}: ${cases.length} texts, ${rendered.length} conversations`);
}

// testdata/templates_golden.json: other well-known chat templates
// (testdata/templates.json) rendered on each conversation with BOS <s> and
// EOS </s>; a template that raises records the error instead of the text.
const templates = readJSON(path.join(testdata, "templates.json"));
const templateCases = [];
for (const t of templates) {
  const template = new Template(t.template);
  for (const c of chats) {
    for (const add_generation_prompt of [false, true]) {
      let text = null;
      let error = false;
      try {
        text = template.render({ messages: c.messages, add_generation_prompt, bos_token: "<s>", eos_token: "</s>" });
      } catch (e) {
        error = true;
      }
      templateCases.push({ template: t.name, conversation: c.name, add_generation_prompt, text, error });
    }
  }
}
fs.writeFileSync(path.join(testdata, "templates_golden.json"), JSON.stringify(templateCases, null, 1) + "\n");
console.log(`templates: ${templateCases.length} renderings`);
