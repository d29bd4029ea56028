//! Small utilities every part of the core uses: a seeded random generator, a stable hash and atomic
//! file writes. They depend on nothing else in the crate.

pub mod atomic_file;
mod counting_reader;
pub mod hash;
pub mod random;

pub use atomic_file::write_atomically;
pub use counting_reader::CountingReader;
pub use hash::stable_hash;
pub use random::SplitMix64;
