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

/** Writes the conversations as JSON Lines at `file` (written aside, then renamed); returns how many. */
export function writePoetryChat(file: string, limit: number): number {
  mkdirSync(path.dirname(file), { recursive: true });
  const lines = [...poetryConversations(limit)].map((c) => JSON.stringify(c));
  writeFileSync(`${file}.partial`, `${lines.join('\n')}\n`);
  renameSync(`${file}.partial`, file);
  return lines.length;
}
