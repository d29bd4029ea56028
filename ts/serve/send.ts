// Whole responses with their length: JSON (the API's bodies and errors) and text (/metrics).
import type http from 'node:http';

export function sendJson(response: http.ServerResponse, status: number, payload: unknown): void {
  sendText(response, status, JSON.stringify(payload), 'application/json; charset=utf-8');
}

export function sendText(response: http.ServerResponse, status: number, text: string, contentType: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
