//! Files that are never seen half-written: written aside, synced, then renamed over the old one.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `parts` to `path` so that `path` is either absent, the old file, or the complete new one.
pub fn write_atomically(path: &Path, parts: &[&[u8]]) -> Result<()> {
    // The process's id in the name: two processes writing the same file at once (data-parallel ranks
    // caching the same values) each rename a whole file of their own.
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    {
        let file = File::create(&tmp).at(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for part in parts {
            out.write_all(part).at(&tmp)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error()).at(&tmp)?;
        file.sync_all().at(&tmp)?;
    }
    fs::rename(&tmp, path).at(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}
