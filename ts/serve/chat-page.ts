// `GET /`: the chat page (web/chat.html), read once. It is self-contained: no CDN, nothing fetched
// from elsewhere, so it works offline.
import { readFileSync } from 'node:fs';
import type http from 'node:http';

// From dist/serve/ and from ts/serve/ (tests run the sources) alike, two folders up is the package root.
const PAGE_URL = new URL('../../web/chat.html', import.meta.url);
let page: Buffer | null = null;

export function sendChatPage(response: http.ServerResponse): void {
  page ??= readFileSync(PAGE_URL);
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cache-control': 'no-cache' });
  response.end(page);
}
