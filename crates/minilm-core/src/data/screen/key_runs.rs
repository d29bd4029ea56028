//! Finding documents that share a key (a normalised text's hash, a MinHash band) at any corpus size, the
//! way datatrove's dedup stages do: (key, document) pairs are buffered, sorted and written to disk as
//! runs of bounded size, then the runs are merged. In the merged order every key's documents come
//! together, lowest document number (earliest in file order) first: that one is kept, the rest are
//! duplicates. Memory is one buffer plus a small read buffer per run, whatever the number of documents.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Pairs held in memory before a run is written: 4 Mi pairs, 64 MiB.
pub const RUN_PAIRS: usize = 4 << 20;
const PAIR_BYTES: usize = 16;

pub struct KeyRuns {
    dir: PathBuf,
    name: String,
    buffer: Vec<(u64, u64)>,
    limit: usize,
    runs: Vec<PathBuf>,
}

impl KeyRuns {
    /// Runs are written into `dir` as `NAME-N.run`.
    pub fn new(dir: &Path, name: &str, limit: usize) -> KeyRuns {
        KeyRuns { dir: dir.to_path_buf(), name: name.to_owned(), buffer: Vec::new(), limit: limit.max(1), runs: Vec::new() }
    }

    pub fn push(&mut self, key: u64, document: u64) -> Result<()> {
        self.buffer.push((key, document));
        if self.buffer.len() >= self.limit {
            self.write_run()?;
        }
        Ok(())
    }

    fn write_run(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.buffer.sort_unstable();
        let path = self.dir.join(format!("{}-{}.run", self.name, self.runs.len()));
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).at(&path)?);
        for (key, document) in self.buffer.drain(..) {
            out.write_all(&key.to_le_bytes()).at(&path)?;
            out.write_all(&document.to_le_bytes()).at(&path)?;
        }
        out.flush().at(&path)?;
        self.runs.push(path);
        Ok(())
    }

    /// Merges the runs and calls `duplicate(document, kept)` for every document that shares a key with
    /// an earlier one, `kept` being the earliest holder of that key. Deletes the runs.
    pub fn for_each_duplicate(mut self, mut duplicate: impl FnMut(u64, u64)) -> Result<()> {
        self.write_run()?;
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::new();
        for (index, path) in self.runs.iter().enumerate() {
            let mut reader = RunReader { path: path.clone(), input: BufReader::with_capacity(64 << 10, File::open(path).at(path)?) };
            if let Some(pair) = reader.next()? {
                heap.push(Reverse((pair, index)));
            }
            readers.push(reader);
        }
        let mut current: Option<(u64, u64)> = None; // (key, the document kept for it)
        while let Some(Reverse(((key, document), index))) = heap.pop() {
            match current {
                Some((k, kept)) if k == key => {
                    if document != kept {
                        duplicate(document, kept);
                    }
                }
                _ => current = Some((key, document)),
            }
            if let Some(pair) = readers[index].next()? {
                heap.push(Reverse((pair, index)));
            }
        }
        drop(readers);
        for path in &self.runs {
            std::fs::remove_file(path).at(path)?;
        }
        Ok(())
    }
}

struct RunReader {
    path: PathBuf,
    input: BufReader<File>,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<(u64, u64)>> {
        let mut bytes = [0u8; PAIR_BYTES];
        match self.input.read_exact(&mut bytes) {
            Ok(()) => {
                let key = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                let document = u64::from_le_bytes(bytes[8..].try_into().unwrap());
                Ok(Some((key, document)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e).at(&self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_across_runs_point_at_the_earliest_holder() {
        let dir = tempfile::tempdir().unwrap();
        // Three pairs per run, so the pairs are spread over several runs.
        let mut runs = KeyRuns::new(dir.path(), "test", 3);
        for (key, document) in [(7, 4), (9, 1), (7, 2), (5, 3), (9, 0), (7, 8), (9, 0), (1, 6)] {
            runs.push(key, document).unwrap();
        }
        let mut found = Vec::new();
        runs.for_each_duplicate(|document, kept| found.push((document, kept))).unwrap();
        found.sort();
        // Key 7: 2 kept, 4 and 8 dropped; key 9: 0 kept (twice: the same document), 1 dropped.
        assert_eq!(found, vec![(1, 0), (4, 2), (8, 2)]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the runs are deleted");
    }
}
