//! The trainer's checkpoint round trip on a golden tiny model: steps, save, restore into a new trainer,
//! more steps, and the same losses bit for bit as a run that never stopped. A checkpoint of another
//! run, or of data that changed, is refused.

mod support;

use std::path::Path;

use minilm_core::data::shards::{write_index, ChunkWriter, JournalMark};
use minilm_core::data::token_dtype::TokenDtype;
use minilm_core::model::{Parameters, Precision};
use minilm_core::train::optimizer::AdamWConfig;
use minilm_core::train::{RestoredState, Trainer, TrainerOptions};
use support::{golden, tensors, Case};

const MICRO_BATCH: usize = 2;
const SEQ_LEN: usize = 8;
const ACCUMULATION: usize = 2;

/// A train/ split of `documents` pseudo-random documents with ids below `vocab`.
fn write_dataset(data: &Path, documents: usize, vocab: u32) {
    let train = data.join("train");
    std::fs::create_dir_all(&train).unwrap();
    let mut writer = ChunkWriter::open(&train, TokenDtype::Int16, 1 << 12, vec![], &JournalMark::default()).unwrap();
    let mut x = 12345u32;
    for doc in 0..documents {
        let ids: Vec<u32> = (0..20 + doc % 7)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) % vocab
            })
            .collect();
        writer.append(&ids).unwrap();
    }
    let chunks = writer.finish().unwrap();
    write_index(&train, &chunks, TokenDtype::Int16, 1 << 12).unwrap();
}

fn options(case: &Case, data: &Path, weights: &Path, run_settings: &str) -> TrainerOptions {
    let run = &case.adamw;
    TrainerOptions {
        model: case.config.clone(),
        seed: 7,
        data_path: data.to_path_buf(),
        split_names: None,
        micro_batch_size: MICRO_BATCH,
        seq_len: SEQ_LEN,
        accumulation: ACCUMULATION,
        optimizer: AdamWConfig { weight_decay: run.weight_decay, betas: run.betas, eps: run.eps },
        max_norm: run.max_norm,
        initial_weights: Some(weights.to_path_buf()),
        initial_weights_format: Default::default(),
        data_kind: Default::default(),
        device: "cpu".into(),
        precision: Precision::Float32,
        run_settings: run_settings.into(),
    }
}

fn losses(trainer: &mut Trainer, steps: usize, lr: f64) -> Vec<u64> {
    (0..steps).map(|_| trainer.step(lr).unwrap().loss.to_bits()).collect()
}

#[test]
fn a_restored_trainer_continues_with_the_same_losses_bit_for_bit() {
    for case in golden().cases {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        write_dataset(&data, 40, case.config.vocab_size as u32);
        let weights = dir.path().join("initial.safetensors");
        Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &candle_core::Device::Cpu)
            .unwrap()
            .save(&weights)
            .unwrap();
        let lr = case.adamw.lr;

        let mut unbroken = Trainer::new(options(&case, &data, &weights, "run-a")).unwrap();
        let expected = losses(&mut unbroken, 6, lr);

        let mut first = Trainer::new(options(&case, &data, &weights, "run-a")).unwrap();
        assert_eq!(losses(&mut first, 3, lr), expected[..3], "{}: the same options give the same steps", case.name);
        let checkpoint = dir.path().join("step-3");
        std::fs::create_dir(&checkpoint).unwrap();
        first.save(&checkpoint).unwrap();
        drop(first);

        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint.join("state.json")).unwrap()).unwrap();
        let tokens_per_step = (MICRO_BATCH * SEQ_LEN * ACCUMULATION) as u64;
        assert_eq!(state["step"], 3);
        assert_eq!(state["iter_num"], 3 * ACCUMULATION as u64);
        assert_eq!(state["tokens"], 3 * tokens_per_step);
        assert_eq!(state["settings"], "run-a");

        let mut resumed = Trainer::new(options(&case, &data, &weights, "run-a")).unwrap();
        assert_eq!(resumed.restore(&checkpoint).unwrap(), RestoredState { step: 3, tokens: 3 * tokens_per_step });
        assert_eq!(losses(&mut resumed, 3, lr), expected[3..], "{}: the resumed run continues exactly", case.name);

        let mut other_run = Trainer::new(options(&case, &data, &weights, "run-b")).unwrap();
        let refused = other_run.restore(&checkpoint).unwrap_err().to_string();
        assert!(refused.contains("cannot resume from") && refused.contains("different model, data"), "{refused}");

        let changed = dir.path().join("changed");
        write_dataset(&changed, 60, case.config.vocab_size as u32);
        let mut other_data = Trainer::new(options(&case, &changed, &weights, "run-a")).unwrap();
        let refused = other_data.restore(&checkpoint).unwrap_err().to_string();
        assert!(refused.contains("state.json") && refused.contains("training windows"), "{refused}");
    }
}
