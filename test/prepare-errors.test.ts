// Bad input gets one clear paragraph naming the file (and row or line), what was found and what was
// expected, and a non-zero exit: never a panic, a stack trace or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeParquetTexts } from '../ts/index.js';
import { mixedCorpus } from './support/corpus.js';
import { minimindTokenizer, runCli } from './support/cli.js';
import { tempDir, writeJsonl } from './support/files.js';

async function prepareFails(input: string, pattern: RegExp, extra: string[] = [], tokenizer = minimindTokenizer) {
  const out = tempDir('bad-out');
  const result = await runCli(['prepare', '--input_dir', input, '--output_dir', out, '--tokenizer_path', tokenizer, ...extra]);
  assert.notEqual(result.code, 0, `expected a failure, got: ${result.stdout}`);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /panicked|RUST_BACKTRACE|\n\s+at /, 'no panic or stack trace');
  assert.equal(
    result.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('minilm:')).length,
    1,
    'one error paragraph',
  );
  return result;
}

function dirWith(name: string, content: string | Buffer): { dir: string; file: string } {
  const dir = tempDir('bad');
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return { dir, file };
}

const texts = mixedCorpus(200);

test('a file that is not parquet', async () => {
  const { dir } = dirWith('fake.parquet', 'id,text\n1,hello\n');
  await prepareFails(dir, /fake\.parquet: cannot read it as Parquet .*expected a complete Parquet file/);
});

test('a truncated parquet file', async () => {
  const dir = tempDir('trunc');
  const file = path.join(dir, 'cut.parquet');
  writeParquetTexts(file, [texts]);
  truncateSync(file, Math.floor(statSync(file).size / 2));
  await prepareFails(dir, /cut\.parquet: cannot read it as Parquet.*truncated/);
});

test('an empty file', async () => {
  const { dir } = dirWith('empty.jsonl', '');
  await prepareFails(dir, /empty\.jsonl: the file is empty \(0 bytes\); expected a jsonl file with a 'text' field/);
});

test('a missing text column lists the columns the file has', async () => {
  const dir = tempDir('col');
  writeParquetTexts(path.join(dir, 'a.parquet'), [texts], { column: 'content' });
  await prepareFails(dir, /a\.parquet: no 'text' column; the file has \[content \(Utf8\)\]; choose one with text_key/);
});

test('a text column that is not a string', async () => {
  const dir = tempDir('type');
  writeJsonl(path.join(dir, 'a.jsonl'), ['fine']);
  writeFileSync(path.join(dir, 'a.jsonl'), '{"text": "fine"}\n{"text": 42}\n');
  await prepareFails(dir, /a\.jsonl \(line 2\): 'text' is a JSON number; expected a string/);
});

test('a malformed JSON line names the line', async () => {
  const { dir } = dirWith('bad.jsonl', '{"text": "one"}\n{"text": "two"}\n{"text": "three"\n');
  await prepareFails(dir, /bad\.jsonl \(line 3\): malformed JSON .*expected one JSON object per line/);
});

test('a JSONL line without the key lists the keys it has', async () => {
  const { dir } = dirWith('k.jsonl', '{"text": "one"}\n{"body": "two", "id": 1}\n');
  await prepareFails(dir, /k\.jsonl \(line 2\): no 'text' key; the object has \[body, id\]/);
});

test('invalid UTF-8 in JSONL and in CSV', async () => {
  const bad = Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
  await prepareFails(dirWith('u.jsonl', bad).dir, /u\.jsonl \(line 2\): invalid UTF-8/);
  const csv = Buffer.concat([Buffer.from('id,text\n1,fine\n2,"caf'), Buffer.from([0xff]), Buffer.from('"\n')]);
  await prepareFails(dirWith('u.csv', csv).dir, /u\.csv \(record 2, line 3\): invalid UTF-8/);
});

test('a CSV without the text column lists its header', async () => {
  await prepareFails(dirWith('h.csv', 'id,body\n1,hello\n').dir, /h\.csv \(header, line 1\): no 'text' column; the header has \[id, body\]/);
});

test('a missing or unreadable tokenizer', async () => {
  const dir = tempDir('tok');
  writeJsonl(path.join(dir, 'a.jsonl'), texts);
  await prepareFails(dir, /tokenizer .*nowhere: does not exist/, [], '/nowhere');
  const broken = tempDir('broken-tok');
  writeFileSync(path.join(broken, 'tokenizer.json'), '{"model": 1}');
  await prepareFails(dir, /tokenizer .*tokenizer\.json: not a valid Hugging Face tokenizer\.json/, [], broken);
  await prepareFails(dir, /the folder has no tokenizer\.json/, [], tempDir('no-tok'));
});

test('a tokenizer whose ids do not fit the requested dtype', async () => {
  const dir = tempDir('dtype');
  writeJsonl(path.join(dir, 'a.jsonl'), texts);
  // The minimind tokenizer with one added token at id 40,000: beyond int16.
  const big = tempDir('big-tok');
  const json = JSON.parse(readFileSync(path.join(minimindTokenizer, 'tokenizer.json'), 'utf8'));
  json.model.vocab['<big>'] = 40_000;
  json.added_tokens.push({ id: 40_000, content: '<big>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(path.join(big, 'tokenizer.json'), JSON.stringify(json));
  copyFileSync(path.join(minimindTokenizer, 'tokenizer_config.json'), path.join(big, 'tokenizer_config.json'));
  await prepareFails(dir, /ids go up to 40000, which do not fit int16 \(at most 32767\); use dtype int32/, ['--dtype', 'int16'], big);
  // Left to choose, prepare writes int32.
  const out = tempDir('big-out');
  const ok = await runCli(['prepare', '--input_dir', dir, '--output_dir', out, '--tokenizer_path', big]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(readFileSync(path.join(out, 'train/index.json'), 'utf8'), /no_header_tensor:16/);
});

test('bad flags and folders', async () => {
  const dir = tempDir('flags');
  writeJsonl(path.join(dir, 'a.jsonl'), texts);
  await prepareFails(dir, /--val_fraction must be a number from 0 up to/, ['--val_fraction', '1.5']);
  await prepareFails(dir, /--chunk_size must be a whole number >= 1/, ['--chunk_size', '0']);
  await prepareFails('/does/not/exist', /input folder \/does\/not\/exist: does not exist/);
  mkdirSync(path.join(dir, 'x'));
  writeFileSync(path.join(dir, 'x', 'b.csv'), 'text\nhello\n');
  await prepareFails(dir, /mixes file types \(1 \.jsonl, 1 \.csv\); choose one with file_type, or read them all with file_type auto/);
  const unknown = await runCli(['prepare', '--input_dir', dir, '--outptu_dir', 'x', '--tokenizer_path', minimindTokenizer]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown argument: outptu_dir|Missing required argument: output_dir/);
});

test('an error after good files keeps their work: fixing the file and rerunning resumes', async () => {
  const dir = tempDir('later');
  writeJsonl(path.join(dir, 'a.jsonl'), texts.slice(0, 100));
  writeFileSync(path.join(dir, 'b.jsonl'), '{"text": "fine"}\nnot json\n');
  const out = tempDir('later-out');
  const args = ['prepare', '--input_dir', dir, '--output_dir', out, '--tokenizer_path', minimindTokenizer];
  const failed = await runCli(args);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /b\.jsonl \(line 2\): malformed JSON/);
  writeFileSync(path.join(dir, 'b.jsonl'), '{"text": "fine"}\n{"text": "also fine"}\n');
  const resumed = await runCli(args);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed after 1 finished files/);
  const fresh = tempDir('later-fresh');
  assert.equal((await runCli(['prepare', '--input_dir', dir, '--output_dir', fresh, '--tokenizer_path', minimindTokenizer])).code, 0);
  for (const file of ['train/index.json', 'train/chunk-0-0.bin']) {
    assert.ok(readFileSync(path.join(out, file)).equals(readFileSync(path.join(fresh, file))), `${file} equals a fresh run's`);
  }
});
