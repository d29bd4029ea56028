// Writing a file whole or not at all: the content goes to a temporary name beside it, then is renamed
// over it, so a reader (or a crash) never sees half of it. The Rust side's twin is util/atomic_file.rs.
import fs from 'node:fs';
import path from 'node:path';

export function writeAtomically(file: string, content: string | Buffer): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temp, content);
  fs.renameSync(temp, file);
}
