// An Ollama Modelfile for an exported GGUF: FROM, the chat template as a TEMPLATE in Ollama's Go-template
// syntax, the stop token and minilm's default sampling. A Jinja template cannot be translated in
// general; this one is derived by rendering it around marker strings, which finds the text before and
// after each role's content, and is written only if it then renders test conversations exactly as the
// Jinja template does. Otherwise the Modelfile has no TEMPLATE and says why.
import type { ChatMessage, ChatTemplate } from '../chat/template.js';
import { generateDefaults } from './sampling.js';

/** The literal text around each role's content, as the Go template writes it. */
interface RolePieces {
  /** Before the first message when it is not a system message (a default system prompt, say). */
  noSystem: string;
  system: [string, string];
  user: [string, string];
  assistant: [string, string];
  /** After the last message: the assistant's header. */
  generation: string;
}

const MARK = { system: '\u0001SYSTEM\u0001', user1: '\u0001USER1\u0001', assistant: '\u0001ASSISTANT\u0001', user2: '\u0001USER2\u0001' };

export function ollamaModelfile(ggufFile: string, template: ChatTemplate | null, stops: string[]): { text: string; note: string | null } {
  const d = generateDefaults();
  const lines = [`FROM ./${ggufFile}`];
  let note: string | null = null;
  if (template === null) note = 'the tokenizer has no chat template';
  else {
    const derived = derivePieces(template);
    if (typeof derived === 'string') note = derived;
    else lines.push(`TEMPLATE """${goTemplate(derived)}"""`);
  }
  for (const stop of stops) lines.push(`PARAMETER stop ${JSON.stringify(stop)}`);
  lines.push(`PARAMETER temperature ${d.temperature}`, `PARAMETER top_p ${d.topP}`, `PARAMETER repeat_penalty ${d.repetitionPenalty}`);
  if (d.topK != null) lines.push(`PARAMETER top_k ${d.topK}`);
  if (note !== null) lines.unshift(`# No TEMPLATE: ${note}. Ollama then sends the prompt as it is.`);
  return { text: `${lines.join('\n')}\n`, note };
}

/** The role pieces of `template`, or why it cannot be written as one. */
function derivePieces(template: ChatTemplate): RolePieces | string {
  const render = (messages: ChatMessage[]) => template.render(messages, { addGenerationPrompt: true });
  let full: string;
  let withoutSystem: string;
  try {
    full = render([
      { role: 'system', content: MARK.system },
      { role: 'user', content: MARK.user1 },
      { role: 'assistant', content: MARK.assistant },
      { role: 'user', content: MARK.user2 },
    ]);
    withoutSystem = render([{ role: 'user', content: MARK.user1 }]);
  } catch (error) {
    return `the chat template does not render a plain conversation (${(error as Error).message})`;
  }
  const parts = splitOn(full, [MARK.system, MARK.user1, MARK.assistant, MARK.user2]);
  const alone = splitOn(withoutSystem, [MARK.user1]);
  if (parts === null || alone === null) return 'the chat template does not write each message once, in order';
  const [beforeSystem, systemToUser, userToAssistant, assistantToUser, afterLast] = parts;
  // A user's header is what precedes every user message (after a system message, after an assistant's
  // reply, and first in a conversation without a system message); what ends a user's turn is what
  // follows every user message (before the assistant's header or the generation prompt).
  const userHeader = commonSuffix(commonSuffix(systemToUser, assistantToUser), alone[0]);
  const userEnd = commonPrefix(commonPrefix(userToAssistant, afterLast), alone[1]);
  const pieces: RolePieces = {
    noSystem: alone[0].slice(0, alone[0].length - userHeader.length),
    system: [beforeSystem, systemToUser.slice(0, systemToUser.length - userHeader.length)],
    user: [userHeader, userEnd],
    assistant: [userToAssistant.slice(userEnd.length), assistantToUser.slice(0, assistantToUser.length - userHeader.length)],
    generation: afterLast.slice(userEnd.length),
  };
  // The derived template must render real conversations as the Jinja template does.
  const checks: ChatMessage[][] = [
    [{ role: 'user', content: '床前明月光' }],
    [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: '1 + 1?' },
    ],
  ];
  for (const messages of checks) {
    if (renderPieces(pieces, messages) !== render(messages)) return 'the chat template is not a fixed header and footer around each message';
  }
  for (const text of Object.values(pieces).flat()) {
    if (text.includes('{{') || text.includes('"""')) return "the chat template writes text that Ollama's template syntax would read as its own";
  }
  return pieces;
}

/** What the Go template below writes for `messages`: the same function, for the check above. */
function renderPieces(p: RolePieces, messages: ChatMessage[]): string {
  let text = messages[0]?.role === 'system' ? '' : p.noSystem;
  for (const m of messages) {
    const around = m.role === 'system' ? p.system : m.role === 'user' ? p.user : m.role === 'assistant' ? p.assistant : null;
    if (around !== null) text += around[0] + (m.content ?? '') + around[1];
  }
  return text + p.generation;
}

/** Ollama's TEMPLATE: Go's text/template over .Messages (no `{{-`: the literal text keeps its newlines). */
function goTemplate(p: RolePieces): string {
  const role = (name: string, [before, after]: [string, string]) => `{{ if eq .Role "${name}" }}${before}{{ .Content }}${after}{{ end }}`;
  return (
    `{{ if and .Messages (eq (index .Messages 0).Role "system") }}{{ else }}${p.noSystem}{{ end }}` +
    `{{ range .Messages }}${role('system', p.system)}${role('user', p.user)}${role('assistant', p.assistant)}{{ end }}${p.generation}`
  );
}

/** The text before, between and after each marker, or null unless each occurs once, in order. */
function splitOn(text: string, markers: string[]): string[] | null {
  const parts: string[] = [];
  let rest = text;
  for (const marker of markers) {
    const at = rest.indexOf(marker);
    if (at < 0 || rest.indexOf(marker, at + 1) >= 0) return null;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + marker.length);
  }
  parts.push(rest);
  return parts;
}

function commonPrefix(a: string, b: string): string {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return a.slice(0, n);
}

function commonSuffix(a: string, b: string): string {
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return a.slice(a.length - n);
}
