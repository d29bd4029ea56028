"""Golden chat-template renderings of Hugging Face transformers, for minilm's own chat-template code.

Writes test/golden/chat_template.json: for the two shared tokenizers (minimind-6400, whose template is
minimind's `<s>system ... </s>` format, and minimind3-6400, a Qwen3-style `<|im_start|>` template with
tools and <think> blocks), a list of cases (messages, tools, add_generation_prompt, extra template
keywords) with the text and the token ids that

    tok = transformers.AutoTokenizer.from_pretrained(DIR)
    tok.apply_chat_template(messages, tools=tools, add_generation_prompt=agp, tokenize=False, **kwargs)
    tok.apply_chat_template(messages, tools=tools, add_generation_prompt=agp, tokenize=True, **kwargs)

return (in transformers 5 tokenize=True returns a BatchEncoding; its input_ids are recorded). For every
case the script also checks that those ids equal tok(text, add_special_tokens=False).input_ids: that is
what apply_chat_template does (render, then encode with add_special_tokens=False, special-token strings
in the text, including ones inside message content, becoming their special ids), so a consumer may
render the text and encode it with its own tokenizer. Cases a template cannot render (it raises) are
not in "cases" but in "skipped", with the error.

How transformers renders (what a consumer must match): jinja2's ImmutableSandboxedEnvironment with
trim_blocks=True, lstrip_blocks=True and the loopcontrols extension; a `tojson` filter that is
json.dumps(x, ensure_ascii=False) (", " and ": " separators, keys in insertion order, no HTML escaping,
unlike jinja2's own tojson); messages, tools, add_generation_prompt and the extra keywords, plus the
tokenizer's special tokens (bos_token, eos_token, ...), as template variables. Before rendering,
transformers 5 copies each message dropping keys whose value is None (so `"content": null` is a missing
key: the Qwen3-style template renders it as '', minimind-6400's template raises), and fills
reasoning_content from `thinking`/`reasoning` when only those are set. sanitize_control_tokens is left at
its default (False): special-token strings in message content stay special tokens.

Note: minimind3-6400's template reads `open_thinking` (true: the generation prompt ends with an open
"<think>\\n"), not Qwen3's `enable_thinking`, so there is an open_thinking case and no enable_thinking one.

Run it once by hand (never in CI), from the repository root:
    python3 -m venv /tmp/chatref && /tmp/chatref/bin/pip install transformers jinja2 tokenizers
    /tmp/chatref/bin/python scripts/reference/make_chat_golden.py [SHARED_DIR]
SHARED_DIR (or env MINILM_SHARED_DIR) is the shared folder holding tokenizers/; default ../shared
relative to the repository root. The JSON is then laid out with node_modules/.bin/biome (npm ci first),
since `biome ci` checks test/**. No torch needed (transformers warns that it is missing).
Last run with transformers 5.24.0, tokenizers 0.23.3, jinja2 3.1.6 (Python 3.11).
"""
import copy
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import transformers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test/golden/chat_template.json"
TOKENIZERS = ["minimind-6400", "minimind3-6400"]

# ------------------------------------------------------------------------------------------------ cases

MIXED = [
    {"role": "user", "content": "  你好，MiniMind！\n请用两句话介绍一下你自己。  "},
    {"role": "assistant", "content": "你好！我是 MiniMind 🤖，一个小小的语言模型。\n\n我可以回答问题、写点代码。"},
    {"role": "user", "content": "Template chars: {{ not_a_var }} and {% raw %} %} {# x #} -- fine?\n\tTabbed line."},
    {"role": "assistant", "content": "Yes: `{{`, `}}`, `{%`, `%}` are just text here. 😀👍🏽 ñ é ß\n"},
    {"role": "user", "content": "最后一个问题：1+1=？ Answer in English, please.\n\n"},
    {"role": "assistant", "content": " 1 + 1 = 2. 答案是二。 "},
]
SYSTEM = {"role": "system", "content": "You are a helpful assistant. 请简洁地回答。"}
USER = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT = {"role": "assistant", "content": "The capital of France is Paris."}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city (城市天气). Use when a < b & it's \"needed\".",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. 北京"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Current time in a time zone.",
                 "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}},
}
TOOL_USER = {"role": "user", "content": "北京今天天气怎么样？"}
TOOL_CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京", "unit": "celsius"}}}]}
TOOL_RESULT = {"role": "tool", "content": '{"temperature": 21, "condition": "晴"}'}
TOOL_ANSWER = {"role": "assistant", "content": "北京今天晴，21°C。"}


def case(name, messages, agp, tools=None, **kwargs):
    return {"name": name, "messages": messages, "tools": tools, "add_generation_prompt": agp,
            "template_kwargs": kwargs}


COMMON = []
for base, msgs in [
    ("user", [USER]),
    ("user_assistant", [USER, ASSISTANT]),
    ("system_user_assistant", [SYSTEM, USER, ASSISTANT]),
    ("multi_turn_mixed", MIXED),
]:
    for agp in (True, False):
        COMMON.append(case(f"{base}/agp={str(agp).lower()}", msgs, agp))
COMMON += [
    case("system_user/agp=true", [SYSTEM, {"role": "user", "content": "Hi"}], True),
    case("empty_user_content/agp=true", [{"role": "user", "content": ""}], True),
    case("system_not_first/agp=true", [USER, ASSISTANT, {"role": "system", "content": "Now answer in French."},
                                       {"role": "user", "content": "And of Spain?"}], True),
    # Special-token strings inside content are encoded as the special tokens (no escaping in HF).
    case("special_token_text_in_content/agp=true",
         [{"role": "user", "content": "literal <s> and </s> and <|im_start|> and <|im_end|> here"}], True),
]

TOOLS = [
    case("tools_user/agp=true", [TOOL_USER], True, tools=[WEATHER_TOOL]),
    case("tools_system_user/agp=true", [SYSTEM, TOOL_USER], True, tools=[WEATHER_TOOL]),
    case("tool_call_and_result/agp=true", [TOOL_USER, TOOL_CALL, TOOL_RESULT], True, tools=[WEATHER_TOOL]),
    case("tool_call_result_answer/agp=false", [SYSTEM, TOOL_USER, TOOL_CALL, TOOL_RESULT, TOOL_ANSWER], False,
         tools=[WEATHER_TOOL]),
    case("two_tool_calls_string_args_two_results/agp=true", [
        {"role": "user", "content": "Weather and time in Tokyo?"},
        {"role": "assistant", "content": "Let me check both.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}},
            {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "Asia/Tokyo"}}}]},
        {"role": "tool", "content": "sunny, 25"},
        {"role": "tool", "content": "14:05"},
    ], True, tools=[WEATHER_TOOL, TIME_TOOL]),
    case("tool_call_content_none/agp=false", [TOOL_USER, dict(TOOL_CALL, content=None), TOOL_RESULT, TOOL_ANSWER],
         False, tools=[WEATHER_TOOL]),
]
THINK = [
    case("assistant_think_in_content/agp=false", [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "<think>\nThe user asks 2+3. 2+3=5.\n</think>\n\nIt is 5."}], False),
    case("assistant_think_multi_turn/agp=true", [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "<think>\n想一想：2+3=5。\n</think>\n\n5"},
        {"role": "user", "content": "And times 2?"},
        {"role": "assistant", "content": "\n\n10"},
        {"role": "user", "content": "Thanks!"}], True),
    case("assistant_reasoning_content/agp=false", [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "5", "reasoning_content": "\nsimple addition\n"}], False),
    case("open_thinking/agp=true", [USER], True, open_thinking=True),
    case("open_thinking_false/agp=true", [USER], True, open_thinking=False),
]
# Every case is tried on both tokenizers; minimind-6400's template ignores tools, tool messages and
# reasoning_content, and raises when content is None (transformers drops the key; undefined + str).
CASES = COMMON + TOOLS + THINK

# ------------------------------------------------------------------------------------------------- main


def shared_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    if os.environ.get("MINILM_SHARED_DIR"):
        return Path(os.environ["MINILM_SHARED_DIR"])
    return ROOT.parent / "shared"


def main():
    shared = shared_dir()
    cases, skipped = [], []
    for tname in TOKENIZERS:
        tok = transformers.AutoTokenizer.from_pretrained(str(shared / "tokenizers" / tname))
        for c in CASES:
            c = copy.deepcopy(c)  # what is recorded is exactly what was passed
            args = dict(tools=c["tools"], add_generation_prompt=c["add_generation_prompt"], **c["template_kwargs"])
            try:
                text = tok.apply_chat_template(c["messages"], tokenize=False, **args)
                ids = tok.apply_chat_template(c["messages"], tokenize=True, **args)
            except Exception as e:  # noqa: BLE001 - record why the template refused
                skipped.append({"tokenizer": tname, "name": c["name"], "reason": f"{type(e).__name__}: {e}"})
                continue
            if not isinstance(ids, list):  # BatchEncoding / dict in transformers 5
                ids = ids["input_ids"]
            assert isinstance(text, str) and all(isinstance(i, int) for i in ids), (tname, c["name"])
            again = tok(text, add_special_tokens=False).input_ids
            assert again == ids, f"{tname} {c['name']}: tokenize=True ids differ from tok(text)"
            cases.append({"tokenizer": tname, **c, "text": text, "ids": ids})
    doc_head = {
        "made_by": "scripts/reference/make_chat_golden.py",
        "versions": {"transformers": transformers.__version__, "tokenizers": version("tokenizers"),
                     "jinja2": version("jinja2")},
    }
    out = json.dumps({**doc_head, "skipped": skipped, "cases": cases}, ensure_ascii=False) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(out, encoding="utf-8")
    # test/** is checked by `biome ci` (npm run lint:ts), so lay the file out as biome does.
    biome = ROOT / "node_modules/.bin/biome"
    if biome.exists():
        subprocess.run([str(biome), "format", "--write", str(OUT)], cwd=ROOT, check=True, capture_output=True)
    else:
        print("warning: node_modules/.bin/biome not found (run npm ci); format the file with biome before committing")
    assert json.loads(OUT.read_text(encoding="utf-8")) == json.loads(out)
    for tname in TOKENIZERS:
        print(tname, sum(c["tokenizer"] == tname for c in cases), "cases")
    for s in skipped:
        print("skipped:", s)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
