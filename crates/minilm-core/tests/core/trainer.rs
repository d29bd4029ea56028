//! The trainer's checkpoint round trip on a golden tiny model: steps, save, restore into a new trainer,
//! more steps, and the same losses bit for bit as a run that never stopped. A checkpoint of another
//! run, or of data that changed, is refused.

use crate::support;

use std::path::{Path, PathBuf};

use minilm_core::data::shards::{write_index, ChunkWriter, JournalMark};
use minilm_core::data::token_dtype::TokenDtype;
use minilm_core::model::{Parameters, Precision};
use minilm_core::train::mixture::{MixtureOptions, MixtureSource, OnExhausted};
use minilm_core::train::optimizer::AdamWConfig;
use minilm_core::train::{RestoredState, Trainer, TrainerOptions};
use support::{golden, tensors, Case};

const MICRO_BATCH: usize = 2;
const SEQ_LEN: usize = 8;
const ACCUMULATION: usize = 2;

/// A train/ split of `documents` pseudo-random documents with ids below `vocab`.
pub(crate) fn write_dataset(data: &Path, documents: usize, vocab: u32) {
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

/// A run's files in `dir`: `documents` documents of the case's vocabulary as data/, and the case's
/// weights as initial.safetensors; their paths.
pub(crate) fn run_files(case: &Case, dir: &Path, documents: usize) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    write_dataset(&data, documents, case.config.vocab_size as u32);
    let weights = dir.join("initial.safetensors");
    Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &candle_core::Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    (data, weights)
}

pub(crate) fn options(case: &Case, data: &Path, weights: &Path, run_settings: &str) -> TrainerOptions {
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
        mixture: None,
        tokenizer_dir: None,
        attention: Default::default(),
        packing: false,
        dpo: None,
        initial_adapters: Vec::new(),
        lora: None,
    }
}

pub(crate) fn losses(trainer: &mut Trainer, steps: usize, lr: f64) -> Vec<u64> {
    (0..steps).map(|_| trainer.step(lr).unwrap().loss.to_bits()).collect()
}

#[test]
fn a_restored_trainer_continues_with_the_same_losses_bit_for_bit() {
    for case in golden().cases {
        let dir = tempfile::tempdir().unwrap();
        let (data, weights) = run_files(&case, dir.path(), 40);
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
        assert_eq!(resumed.restore(&checkpoint).unwrap(), RestoredState { step: 3, tokens: 3 * tokens_per_step, source_tokens: vec![] });
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

fn mixture(paths: &[&Path], weights: &[f64], on_exhausted: OnExhausted) -> MixtureOptions {
    let sources = paths
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(i, (path, &weight))| MixtureSource { name: format!("s{i}"), path: path.to_path_buf(), weight })
        .collect();
    MixtureOptions { sources, on_exhausted }
}

#[test]
fn a_mixture_resumes_bit_for_bit_follows_its_weights_and_refuses_a_changed_mixture() {
    let case = golden().cases.remove(0);
    let dir = tempfile::tempdir().unwrap();
    let (big, small) = (dir.path().join("big"), dir.path().join("small"));
    write_dataset(&big, 200, case.config.vocab_size as u32);
    write_dataset(&small, 10, case.config.vocab_size as u32);
    let weights = dir.path().join("initial.safetensors");
    Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &candle_core::Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    let with = |m: MixtureOptions| TrainerOptions { mixture: Some(m), ..options(&case, &big, &weights, "mix") };
    let mix = || mixture(&[&big, &small], &[0.75, 0.25], OnExhausted::Repeat);
    let lr = case.adamw.lr;

    let mut unbroken = Trainer::new(with(mix())).unwrap();
    let names: Vec<String> = unbroken.info().sources.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["s0", "s1"]);
    let mut tokens = [0u64; 2];
    let mut epochs = Vec::new();
    for _ in 0..40 {
        let stats = unbroken.step(lr).unwrap();
        tokens[0] += stats.source_tokens[0];
        tokens[1] += stats.source_tokens[1];
        epochs.extend(stats.new_epochs);
    }
    let share = tokens[0] as f64 / (tokens[0] + tokens[1]) as f64;
    assert!((share - 0.75).abs() < 0.01, "{tokens:?}");
    assert!(epochs.iter().any(|(name, epoch)| name == "s1" && *epoch == 1), "the small source began again: {epochs:?}");

    let expected = losses(&mut Trainer::new(with(mix())).unwrap(), 6, lr);
    let mut first = Trainer::new(with(mix())).unwrap();
    assert_eq!(losses(&mut first, 3, lr), expected[..3]);
    let checkpoint = dir.path().join("step-3");
    std::fs::create_dir(&checkpoint).unwrap();
    first.save(&checkpoint).unwrap();
    let mut resumed = Trainer::new(with(mix())).unwrap();
    let restored = resumed.restore(&checkpoint).unwrap();
    assert_eq!(restored.source_tokens.iter().sum::<u64>(), restored.tokens);
    assert_eq!(losses(&mut resumed, 3, lr), expected[3..], "the resumed mixture continues exactly");
    let evaluation = resumed.evaluate(2).unwrap();
    assert!(evaluation.loss.is_none() && evaluation.sources.is_empty(), "these datasets have no val/");

    let mut reweighted = Trainer::new(with(mixture(&[&big, &small], &[0.5, 0.5], OnExhausted::Repeat))).unwrap();
    let refused = reweighted.restore(&checkpoint).unwrap_err().to_string();
    assert!(refused.contains("the mixture changed (s0's weight 0.75 is now 0.5; s1's weight 0.25 is now 0.5)"), "{refused}");

    let stopping = Trainer::new(with(mixture(&[&big, &small], &[0.75, 0.25], OnExhausted::Stop))).unwrap();
    assert_eq!(stopping.exhausted_source(), None);
    let mut stopping = stopping;
    let mut steps = 0;
    while stopping.exhausted_source().is_none() {
        stopping.step(lr).unwrap();
        steps += 1;
    }
    assert_eq!(stopping.exhausted_source().as_deref(), Some("s1"));
    assert!(steps > 2 && steps < 40, "{steps}");
}

/// The weights and moments live in flat buffers now, but a checkpoint keeps one tensor per name, as
/// minilm wrote them before: a checkpoint written tensor by tensor (distinct values in every tensor, so a
/// parameter placed at the wrong offset shows) restores, and saving again gives back the same tensors.
#[test]
fn checkpoints_keep_one_tensor_per_name_and_restore_by_name_into_the_flat_buffers() {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};
    let case = &golden().cases[0];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, 40, case.config.vocab_size as u32);
    let weights = dir.path().join("initial.safetensors");
    Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &Device::Cpu).unwrap().save(&weights).unwrap();
    let mut trainer = Trainer::new(options(case, &data, &weights, "run-a")).unwrap();
    losses(&mut trainer, 2, case.adamw.lr);
    let saved = dir.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    trainer.save(&saved).unwrap();
    let specs = case.config.parameter_specs();
    let model = candle_core::safetensors::load(saved.join("model.safetensors"), &Device::Cpu).unwrap();
    let moments = candle_core::safetensors::load(saved.join("optimizer.safetensors"), &Device::Cpu).unwrap();
    assert_eq!((model.len(), moments.len()), (specs.len(), 2 * specs.len()), "one tensor per parameter, two moments each");
    for spec in &specs {
        assert_eq!(model[&spec.name].dims(), spec.shape.as_slice(), "{}", spec.name);
        assert_eq!(moments[&format!("{}.exp_avg_sq", spec.name)].dims(), spec.shape.as_slice(), "{}", spec.name);
    }

    // Written tensor by tensor, in reverse order.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let filled = |index: usize, shape: &[usize], base: f32| {
        let count: usize = shape.iter().product();
        Tensor::from_vec((0..count).map(|i| base + index as f32 + i as f32 * 1e-4).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap()
    };
    let (mut old_model, mut old_moments) = (HashMap::new(), HashMap::new());
    for (index, spec) in specs.iter().enumerate().rev() {
        old_model.insert(spec.name.clone(), filled(index, &spec.shape, 0.0));
        old_moments.insert(format!("{}.exp_avg", spec.name), filled(index, &spec.shape, 100.0));
        old_moments.insert(format!("{}.exp_avg_sq", spec.name), filled(index, &spec.shape, 200.0));
    }
    candle_core::safetensors::save(&old_model, old.join("model.safetensors")).unwrap();
    candle_core::safetensors::save(&old_moments, old.join("optimizer.safetensors")).unwrap();
    std::fs::copy(saved.join("state.json"), old.join("state.json")).unwrap();

    let mut resumed = Trainer::new(options(case, &data, &weights, "run-a")).unwrap();
    resumed.restore(&old).unwrap();
    let again = dir.path().join("again");
    std::fs::create_dir(&again).unwrap();
    resumed.save(&again).unwrap();
    for (file, want) in [("model.safetensors", &old_model), ("optimizer.safetensors", &old_moments)] {
        let got = candle_core::safetensors::load(again.join(file), &Device::Cpu).unwrap();
        assert_eq!(got.len(), want.len(), "{file}");
        for (name, tensor) in want {
            let (got, want) =
                (got[name].flatten_all().unwrap().to_vec1::<f32>().unwrap(), tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            assert!(got == want, "{file}: {name} came back different");
        }
    }
}
