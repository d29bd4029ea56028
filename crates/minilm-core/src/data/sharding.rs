//! Sharded prepare, for inputs too big for one machine: `--shard I/N` tokenizes the I-th of N parts of the
//! input file list into a folder of its own, and `--merge` joins the N finished parts into one dataset.
//!
//! A part is a run of consecutive files (in the sorted order a single prepare reads them) holding about
//! 1/N of the input's bytes, so the merged dataset lists the same documents in the same order as a
//! single prepare of the same input: the same tokens, split the same way (the validation choice depends
//! on each file's relative path and row only), though cut into chunks differently.
//!
//! Shard I writes OUTPUT/shards/shard-I-of-N/ as a whole prepare writes a dataset: its own state file
//! (resume, and the completion marker the merge reads), lock, train/ and val/ with chunks named
//! chunk-I-K.bin (litdata's chunk-{rank}-{index}), and their index.json. N tasks can therefore run at once
//! into one output folder on a shared file system. The merge hard-links every shard's chunks into
//! OUTPUT/train and OUTPUT/val (they keep their unique names) and writes one index.json over them, only
//! once every shard has finished (shard_merge.rs).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::sources::InputFile;
use crate::error::{Error, Result};
use crate::util::stable_hash;

/// Where the shards' folders are, inside the output folder.
pub const SHARDS_FOLDER: &str = "shards";

/// One part of a sharded prepare: the `index`-th (from 0) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// What a shard's state records of the sharding, so that the merge can tell that every shard cut the same
/// input the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOfInput {
    pub shard: Shard,
    /// The whole input's files (relative paths and sizes), hashed.
    pub input_digest: String,
    /// How many files the whole input has.
    pub input_files: usize,
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::usage(format!("shard {index}/{count}: expected I/N with N at least 1 and I from 0 to N-1")));
        }
        Ok(Shard { index, count })
    }

    /// The folder this shard writes, inside the output folder.
    pub fn folder(&self, output_dir: &Path) -> PathBuf {
        output_dir.join(SHARDS_FOLDER).join(format!("shard-{}-of-{}", self.index, self.count))
    }

    /// This shard's files: those whose middle byte falls in its 1/N of the input's bytes (in file order),
    /// so each shard takes a run of consecutive files and every file goes to exactly one shard.
    pub fn files(&self, all: &[InputFile]) -> Vec<InputFile> {
        let total: u64 = all.iter().map(|f| f.size).sum();
        let mut start = 0u64;
        let mut mine = Vec::new();
        for (i, file) in all.iter().enumerate() {
            let owner = if total == 0 {
                i * self.count / all.len()
            } else {
                (((start as u128 * 2 + file.size as u128) * self.count as u128) / (total as u128 * 2)) as usize
            };
            if owner.min(self.count - 1) == self.index {
                mine.push(file.clone());
            }
            start += file.size;
        }
        mine
    }

    pub fn of_input(&self, all: &[InputFile]) -> ShardOfInput {
        let listing: String = all.iter().map(|f| format!("{}\t{}\n", f.relative, f.size)).collect();
        ShardOfInput { shard: *self, input_digest: format!("{:016x}", stable_hash(listing.as_bytes())), input_files: all.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sources::FileType;

    fn files(sizes: &[u64]) -> Vec<InputFile> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| InputFile { path: PathBuf::from(format!("f{i}")), relative: format!("f{i}"), size, kind: FileType::Jsonl })
            .collect()
    }

    #[test]
    fn every_file_goes_to_one_shard_in_runs_of_about_equal_bytes() {
        let all = files(&[10, 10, 10, 10, 10, 10, 100, 5, 5, 30]);
        for count in 1..=12 {
            let parts: Vec<Vec<String>> =
                (0..count).map(|i| Shard::new(i, count).unwrap().files(&all).into_iter().map(|f| f.relative).collect()).collect();
            let joined: Vec<String> = parts.concat();
            assert_eq!(joined, all.iter().map(|f| f.relative.clone()).collect::<Vec<_>>(), "{count} shards: every file once, in order");
        }
        let three: Vec<usize> = (0..3).map(|i| Shard::new(i, 3).unwrap().files(&all).len()).collect();
        assert_eq!(three, vec![6, 1, 3], "the big file is a shard of its own");
        assert!(Shard::new(3, 3).is_err() && Shard::new(0, 0).is_err());
    }
}
