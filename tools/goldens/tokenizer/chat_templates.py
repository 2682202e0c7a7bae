#!/usr/bin/python3
"""Chat-template goldens for ml/tokenizer, rendered by Python's jinja2 the way
Hugging Face transformers' apply_chat_template renders them: a sandboxed
environment with trim_blocks and lstrip_blocks, the loopcontrols extension,
raise_exception, strftime_now and a tojson filter that keeps non-ASCII text.
(Python jinja2 is the reference the JS engine used by gen.mjs ports; where
the two disagree, for example str.lstrip with an argument, this one is right.)

Writes, over the conversations of ml/tokenizer/testdata/chat.json:
  testdata/<model>/chat.json      each model's own template (tokenizer_config.json)
  testdata/templates_golden.json  the templates of testdata/templates.json,
                                  with BOS <s> and EOS </s>
A template that raises records the error instead of the text. It also reports
where @huggingface/jinja's renderings (written by gen.mjs, run first) differ.

Run from the repository root after gen.mjs:
  /usr/bin/python3 tools/goldens/tokenizer/chat_templates.py
Needs Debian's python3-jinja2. Tests never run this script.
"""
import gzip
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

TESTDATA = os.path.join("ml", "tokenizer", "testdata")
MODELS = ["gpt2", "qwen3", "mistral", "trained", "gemma3", "gpt4o",
          "phi3", "smollm2", "tekken",
          "qwen3-llama3", "mistral-metaspace", "mistral-metaspace-split", "mistral-added"]
# Variants take their tokenizer_config.json from the model they derive from.
BASE = {"phi3": "mistral", "smollm2": "gpt2", "tekken": "gpt2",
        "qwen3-llama3": "qwen3", "mistral-metaspace": "mistral",
        "mistral-metaspace-split": "mistral", "mistral-added": "mistral"}
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def render(env, template, messages, gen, tokens):
    try:
        return env.from_string(template).render(messages=messages, add_generation_prompt=gen, **tokens), False
    except jinja2.exceptions.TemplateError:
        return None, True


def token(cfg, field):
    v = cfg.get(field)
    return v if v is None or isinstance(v, str) else v.get("content")


def read_json(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    env = environment()
    chats = read_json(os.path.join(TESTDATA, "chat.json"))
    differ = []
    for model in MODELS:
        cfg = read_json(os.path.join(TESTDATA, BASE.get(model, model), "tokenizer_config.json")) or {}
        template = cfg.get("chat_template") if isinstance(cfg.get("chat_template"), str) else CHATML
        tokens = {k: token(cfg, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token") if token(cfg, k) is not None}
        out = []
        for c in chats:
            text, err = render(env, template, c["messages"], c["add_generation_prompt"], tokens)
            row = {"name": c["name"], "add_generation_prompt": c["add_generation_prompt"]}
            if err:
                row["error"] = True
            else:
                row["text"] = text
            out.append(row)
        path = os.path.join(TESTDATA, model, "chat.json")
        js = read_json(path) or []
        for a, b in zip(out, js):
            if a.get("text") != b.get("text") or a.get("error", False) != b.get("error", False):
                differ.append(f"{model} on {a['name']}")
        write_json(path, out)
    templates = read_json(os.path.join(TESTDATA, "templates.json"))
    cases = []
    for t in templates:
        for c in chats:
            for gen in (False, True):
                text, err = render(env, t["template"], c["messages"], gen, {"bos_token": "<s>", "eos_token": "</s>"})
                cases.append({"template": t["name"], "conversation": c["name"], "add_generation_prompt": gen, "text": text, "error": err})
    path = os.path.join(TESTDATA, "templates_golden.json")
    js = read_json(path) or []
    for a, b in zip(cases, js):
        if a["text"] != b["text"] or a["error"] != b["error"]:
            differ.append(f"{a['template']} on {a['conversation']} (generation prompt {a['add_generation_prompt']})")
    write_json(path, cases)
    print(f"{len(MODELS)} models, {len(cases)} template renderings")
    for d in differ:
        print("@huggingface/jinja differs:", d)


if __name__ == "__main__":
    main()
