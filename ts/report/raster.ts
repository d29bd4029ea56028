// A small RGB raster with what a line plot needs (rectangles, thick lines, dots, bitmap text) and a PNG
// encoder (8-bit RGB, one zlib stream). It lets `report --png` write an image with no native image
// library and no font file.
import zlib from 'node:zlib';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, glyph } from './bitmap-font.js';

export type Rgb = [number, number, number];

export function rgb(hex: string): Rgb {
  const value = Number.parseInt(hex.replace('#', ''), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

export class Raster {
  readonly width: number;
  readonly height: number;
  private readonly pixels: Uint8Array;

  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  setPixel(x: number, y: number, color: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(color, (y * this.width + x) * 3);
  }

  fillRect(x: number, y: number, width: number, height: number, color: Rgb): void {
    for (let row = Math.round(y); row < Math.round(y + height); row++) {
      for (let column = Math.round(x); column < Math.round(x + width); column++) this.setPixel(column, row, color);
    }
  }

  /** A filled disc: the pen of thick lines and the dots of a scatter. */
  dot(cx: number, cy: number, radius: number, color: Rgb): void {
    for (let dy = -Math.ceil(radius); dy <= Math.ceil(radius); dy++) {
      for (let dx = -Math.ceil(radius); dx <= Math.ceil(radius); dx++) {
        if (dx * dx + dy * dy <= radius * radius) this.setPixel(cx + dx, cy + dy, color);
      }
    }
  }

  /** A line `width` pixels wide, stamped with a disc every pixel along its length. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, width = 1): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      const [x, y] = [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t];
      if (width <= 1) this.setPixel(x, y, color);
      else this.dot(x, y, width / 2, color);
    }
  }

  /** Text in the 5x7 font, each font pixel drawn as a `scale` x `scale` square; `align` is about x. */
  text(x: number, y: number, text: string, color: Rgb, scale = 2, align: 'left' | 'center' | 'right' = 'left'): void {
    const width = textWidth(text, scale);
    let left = Math.round(align === 'left' ? x : align === 'center' ? x - width / 2 : x - width);
    for (const char of text) {
      glyph(char).forEach((row, r) => {
        row.forEach((ink, c) => {
          if (ink) this.fillRect(left + c * scale, y + r * scale, scale, scale, color);
        });
      });
      left += GLYPH_ADVANCE * scale;
    }
  }

  png(): Buffer {
    // Each row starts with its filter type; 0 (none) keeps the encoder simple, zlib still packs a plot well.
    const rowBytes = this.width * 3;
    const raw = Buffer.alloc((rowBytes + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (rowBytes + 1)] = 0;
      raw.set(this.pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
    }
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, adaptive filtering, no interlace
    const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
    return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
  }
}

export function textWidth(text: string, scale = 2): number {
  const count = [...text].length;
  return count === 0 ? 0 : (count * GLYPH_ADVANCE - 1) * scale;
}

export const TEXT_HEIGHT = GLYPH_HEIGHT;

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
