// A real instruction set from the sample corpus, for SFT tests and `npm start -- --chat`: from Tang
// poems of four five-character lines (五言绝句), two kinds of exchange in minimind's format:
//   写一首题为《X》的五言绝句。 -> the poem
//   《X》的作者是谁？           -> 《X》的作者是Y。
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { poemRecords } from './sample-corpus.js';

export interface Conversation {
  conversations: { role: 'user' | 'assistant'; content: string }[];
}

const FIVE_CHARACTER_LINE = /^[\u4e00-\u9fff]{5}，[\u4e00-\u9fff]{5}[。！？]$/u;

/** Up to `limit` conversations from the first poems that are 五言绝句 with a plain title and an author. */
export function* poetryConversations(limit: number, scanPoems = 60000): Generator<Conversation> {
  let made = 0;
  for (const poem of poemRecords(scanPoems)) {
    const title = poem.title.trim();
    if (poem.paragraphs.length !== 2 || !poem.paragraphs.every((l) => FIVE_CHARACTER_LINE.test(l))) continue;
    if (!/^[\u4e00-\u9fff]{1,10}$/u.test(title) || !/^[\u4e00-\u9fff]{2,4}$/u.test(poem.author)) continue;
    const exchange = (question: string, answer: string): Conversation => ({
      conversations: [
        { role: 'user', content: question },
        { role: 'assistant', content: answer },
      ],
    });
    yield exchange(`写一首题为《${title}》的五言绝句。`, poem.paragraphs.join('\n'));
    if (++made >= limit) return;
    yield exchange(`《${title}》的作者是谁？`, `《${title}》的作者是${poem.author}。`);
    if (++made >= limit) return;
  }
}

/** Writes the conversations as JSON Lines at `file`; returns how many. */
export function writePoetryChat(file: string, limit: number): number {
  return writeJsonLines(file, [...poetryConversations(limit)]);
}

/** Writes `authorPreferencePairs(limit)` as JSON Lines at `file`; returns how many. */
export function writeAuthorPairs(file: string, limit: number): number {
  return writeJsonLines(file, authorPreferencePairs(limit));
}

/** `records` as JSON Lines at `file` (written aside, then renamed); how many. */
function writeJsonLines(file: string, records: unknown[]): number {
  mkdirSync(path.dirname(file), { recursive: true });
  const lines = records.map((r) => JSON.stringify(r));
  writeFileSync(`${file}.partial`, `${lines.join('\n')}\n`);
  renameSync(`${file}.partial`, file);
  return lines.length;
}

/** A preference pair in TRL's standard layout. */
export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
}

/**
 * Preference pairs from the author questions of `poetryConversations(limit)`: the prompt 《X》的作者是谁？,
 * chosen the right answer 《X》的作者是Y。, rejected the same answer with the `wrong` part taken from the
 * question `stride` on (the next one whose part differs): another poet of the set ('author'), or another
 * title in place of the one asked about ('title').
 */
export function authorPreferencePairs(limit: number, wrong: 'author' | 'title' = 'author', stride = 7): PreferencePair[] {
  const questions = [...poetryConversations(limit)].filter((c) => c.conversations[0].content.endsWith('的作者是谁？'));
  const split = (answer: string) => {
    const at = answer.indexOf('的作者是');
    return { title: answer.slice(1, at - 1), author: answer.slice(at + 4, -1) };
  };
  const pairs: PreferencePair[] = [];
  questions.forEach((c, i) => {
    const [question, answer] = c.conversations;
    const right = split(answer.content);
    const others = [...questions.slice(i + stride), ...questions.slice(0, i + stride)].map((q) => split(q.conversations[1].content));
    const other = others.find((o) => o[wrong] !== right[wrong]);
    if (other === undefined) return;
    const rejected = wrong === 'author' ? { ...right, author: other.author } : { ...right, title: other.title };
    pairs.push({ prompt: question.content, chosen: answer.content, rejected: `《${rejected.title}》的作者是${rejected.author}。` });
  });
  return pairs;
}
