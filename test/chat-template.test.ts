// Chat templates against transformers: for both reference tokenizers, every conversation of
// test/golden/chat_template.json (made once by scripts/reference/make_chat_golden.py with transformers'
// apply_chat_template) renders to the same text and encodes to the same ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ChatTemplate, type ChatMessage } from '../ts/chat/template.js';
import { Tokenizer } from '../ts/model/tokenizer.js';
import { repoRoot } from './support/cli.js';
import { sharedDir } from './support/shared.js';
import { tempDir } from './support/files.js';

interface GoldenCase {
  tokenizer: string;
  name: string;
  messages: ChatMessage[];
  tools: unknown[] | null;
  add_generation_prompt: boolean;
  template_kwargs: Record<string, unknown>;
  text: string;
  ids: number[];
}

const golden = JSON.parse(readFileSync(path.join(repoRoot, 'test/golden/chat_template.json'), 'utf8')) as {
  cases: GoldenCase[];
  skipped: { tokenizer: string; name: string; reason: string }[];
};

for (const name of ['minimind-6400', 'minimind3-6400']) {
  test(`${name}: every conversation renders and encodes as transformers' apply_chat_template does`, () => {
    const dir = path.join(sharedDir, 'tokenizers', name);
    const template = ChatTemplate.fromDir(dir);
    const tokenizer = Tokenizer.fromDir(dir);
    const cases = golden.cases.filter((c) => c.tokenizer === name);
    assert.ok(cases.length >= 20, `${cases.length} cases`);
    for (const c of cases) {
      const text = template.render(c.messages, { tools: c.tools, addGenerationPrompt: c.add_generation_prompt, templateKwargs: c.template_kwargs });
      assert.equal(text, c.text, `${name} ${c.name}: text`);
      assert.deepEqual(tokenizer.encodeText(text), c.ids, `${name} ${c.name}: ids`);
    }
  });
}

test('a conversation the template cannot render, a broken template and a missing one get errors naming the file', () => {
  for (const skipped of golden.skipped) {
    const c = golden.cases.find((x) => x.tokenizer !== skipped.tokenizer && x.name === skipped.name);
    assert.ok(c, `the skipped case ${skipped.name} exists for the other tokenizer`);
    const template = ChatTemplate.fromDir(path.join(sharedDir, 'tokenizers', skipped.tokenizer));
    assert.throws(
      () => template.render(c.messages, { tools: c.tools, addGenerationPrompt: c.add_generation_prompt }),
      /tokenizer_config\.json: the chat_template cannot render this conversation: /,
    );
  }
  const broken = tempDir('broken-template');
  writeFileSync(path.join(broken, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for m in messages %}{{ m.content }' }));
  assert.throws(() => ChatTemplate.fromDir(broken), /broken-template.*tokenizer_config\.json: its chat_template is not valid Jinja: /);
  const none = tempDir('no-template');
  mkdirSync(none, { recursive: true });
  writeFileSync(path.join(none, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
  assert.throws(() => ChatTemplate.fromDir(none), /tokenizer_config\.json: has no chat_template/);
  assert.throws(() => ChatTemplate.fromDir(tempDir('no-config')), /tokenizer_config\.json: cannot read the tokenizer's config \(No such file/);
});
