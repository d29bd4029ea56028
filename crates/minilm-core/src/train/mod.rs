//! Training: the optimizer, the learning-rate schedule, batches of token windows, checkpoints and the
//! step that joins them. The TypeScript layer drives the loop (logging, saving, signals).

pub mod random;
