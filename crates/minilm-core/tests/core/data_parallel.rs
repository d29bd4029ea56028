//! Data-parallel training's arithmetic, with the ranks as threads of this test: 2 ranks with
//! micro-batch 2 take the same steps as 1 rank with micro-batch 4 (same global batch), every rank ends
//! with the same weights, and a run checkpointed on 2 ranks resumes on 1. The ranks here add up through
//! `ThreadRanks`, a stand-in for the engines (MPI, test/data-parallel.test.ts runs it), which keeps the
//! test fast and free of an MPI installation; its sums are in rank order, as MPI's reduce is in a fixed one.
//! Given a bucket size, it also sums the gradient in buckets during the backward pass, as NCCL does.
//! The ranks may shard the optimizer's state (ZeRO-1): the same steps and checkpoints, bit for bit.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use minilm_core::model::lora::{LoraConfig, LoraTarget};
use minilm_core::train::collective::Collective;
use minilm_core::train::trainer::LoraOptions;
use minilm_core::train::watchdog::Watched;
use minilm_core::train::{Trainer, TrainerOptions};
use minilm_core::Result;

use crate::support::{golden, Case};
use crate::trainer::{options, run_files};

/// Ranks as threads: each puts its values in its slot, and after a barrier every rank adds up the
/// slots in rank order.
struct ThreadRanks {
    rank: usize,
    world: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
    bucket_elements: Option<usize>,
    /// Gradient sums, whole or in buckets, by all ranks.
    gradient_sums: Arc<AtomicUsize>,
}

impl ThreadRanks {
    fn world(world: usize) -> Vec<ThreadRanks> {
        Self::bucketed(world, None, Arc::default())
    }

    fn bucketed(world: usize, bucket_elements: Option<usize>, gradient_sums: Arc<AtomicUsize>) -> Vec<ThreadRanks> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); world]));
        let barrier = Arc::new(Barrier::new(world));
        (0..world)
            .map(|rank| ThreadRanks {
                rank,
                world,
                slots: slots.clone(),
                barrier: barrier.clone(),
                bucket_elements,
                gradient_sums: gradient_sums.clone(),
            })
            .collect()
    }

    fn sum(&self, values: &[f64]) -> Vec<f64> {
        self.slots.lock().unwrap()[self.rank] = values.to_vec();
        self.barrier.wait();
        let slots = self.slots.lock().unwrap();
        let sums = (0..values.len()).map(|i| slots.iter().map(|slot| slot[i]).sum()).collect();
        drop(slots);
        self.barrier.wait();
        sums
    }
}

impl Collective for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    /// The gradient's sums, whole or a bucket at a time (the trainer sums its figures in float64).
    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.gradient_sums.fetch_add(1, Ordering::SeqCst);
        let sums = self.sum(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
        for (value, sum) in values.iter_mut().zip(sums) {
            *value = sum as f32;
        }
        Ok(())
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        let sums = self.sum(values);
        values.copy_from_slice(&sums);
        Ok(())
    }

    /// The root's values into its slot, and every rank's from there.
    fn broadcast_f32(&self, values: &mut [f32], root: usize) -> Result<()> {
        if self.rank == root {
            self.slots.lock().unwrap()[root] = values.iter().map(|&v| v as f64).collect();
        }
        self.barrier.wait();
        for (value, &shared) in values.iter_mut().zip(&self.slots.lock().unwrap()[root]) {
            *value = shared as f32;
        }
        self.barrier.wait();
        Ok(())
    }

    fn bucket_elements(&self) -> Option<usize> {
        self.bucket_elements
    }
}

/// A run's ranks: how many, each one's micro-batch size and micro-batches per step, how they sum
/// (whole after the backward pass when None), whether they shard the optimizer's state, and whether
/// they train LoRA adapters (rank 2 on qkv) instead of the weights.
struct Shape<'a> {
    world: usize,
    micro: usize,
    accumulation: usize,
    sums: Option<&'a Sums>,
    sharded: bool,
    lora: bool,
}

impl Shape<'_> {
    /// Ranks that sum the whole gradient after the backward pass and keep the whole optimizer state.
    fn plain(world: usize, micro: usize, accumulation: usize) -> Self {
        Shape { world, micro, accumulation, sums: None, sharded: false, lora: false }
    }
}

/// How the ranks sum the gradient: whole after the backward pass, or in buckets of `bucket_elements`
/// during it; `count` counts the gradient sums.
#[derive(Default)]
struct Sums {
    bucket_elements: Option<usize>,
    count: Arc<AtomicUsize>,
}

/// Each rank's (losses, grad norms, weights digest) after `steps` steps from `start` (a checkpoint), rank
/// 0 saving into `save` at the end (the others lending it their shards of a sharded optimizer).
fn run_ranks(
    case: &Case,
    data: &Path,
    weights: &Path,
    shape: Shape,
    steps: usize,
    start: Option<&Path>,
    save: Option<&Path>,
) -> Vec<(Vec<f64>, Vec<f64>, String)> {
    let Shape { world, micro, accumulation, sums, sharded, lora } = shape;
    let whole = Sums::default();
    let sums = sums.unwrap_or(&whole);
    let lr = case.adamw.lr;
    std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadRanks::bucketed(world, sums.bucket_elements, sums.count.clone())
            .into_iter()
            .map(|ranks| {
                let lora = lora.then(|| LoraOptions {
                    config: LoraConfig { r: 2, alpha: 4.0, targets: vec![LoraTarget::Qkv] },
                    base_dir: weights.parent().unwrap().to_path_buf(),
                });
                let trainer_options = TrainerOptions { micro_batch_size: micro, accumulation, lora, ..options(case, data, weights, "dp") };
                scope.spawn(move || {
                    let rank = ranks.rank;
                    let mut trainer = Trainer::new(trainer_options).unwrap();
                    if let Some(dir) = start {
                        trainer.restore(dir).unwrap();
                    }
                    if world > 1 {
                        trainer.join(Box::new(ranks));
                        if sharded {
                            trainer.shard_optimizer().unwrap();
                        }
                    }
                    let (mut losses, mut norms) = (Vec::new(), Vec::new());
                    for _ in 0..steps {
                        let stats = trainer.step(lr).unwrap();
                        losses.push(stats.loss);
                        norms.push(stats.grad_norm);
                    }
                    match (save, rank) {
                        (Some(dir), 0) => {
                            std::fs::create_dir_all(dir).unwrap();
                            trainer.save(dir).unwrap();
                        }
                        (Some(_), _) => trainer.share_for_save().unwrap(),
                        (None, _) => {}
                    }
                    (losses, norms, trainer.model.params.digest().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (step, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs(), "{what}, step {}: {g} against {w}", step + 1);
    }
}

#[test]
fn two_ranks_take_the_steps_of_one_with_twice_the_micro_batch_and_resume_on_one() {
    let case = &golden().cases[0];
    let dir = tempfile::tempdir().unwrap();
    let (data, weights) = run_files(case, dir.path(), 60);

    // A global batch of 8 windows: 1 rank x micro-batch 4 x 2, against 2 ranks x micro-batch 2 x 2.
    let alone = run_ranks(case, &data, &weights, Shape::plain(1, 4, 2), 6, None, None).remove(0);
    let ranks = run_ranks(case, &data, &weights, Shape::plain(2, 2, 2), 6, None, None);
    for (rank, (losses, norms, digest)) in ranks.iter().enumerate() {
        assert_close(&format!("rank {rank}'s loss"), losses, &alone.0);
        assert_close(&format!("rank {rank}'s grad norm"), norms, &alone.1);
        assert_eq!(*digest, ranks[0].2, "rank {rank} holds the weights rank 0 holds");
    }

    // Checkpointed after 3 steps on 2 ranks (rank 0 writes), resumed on 1 rank with the same
    // micro-batch and twice the accumulation: the same samples, so the same last 3 steps.
    let checkpoint = dir.path().join("step-3");
    run_ranks(case, &data, &weights, Shape::plain(2, 2, 2), 3, None, Some(&checkpoint));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint.join("state.json")).unwrap()).unwrap();
    assert_eq!((state["step"].as_u64(), state["iter_num"].as_u64(), state["tokens"].as_u64()), (Some(3), Some(12), Some(3 * 8 * 8)));
    let resumed = run_ranks(case, &data, &weights, Shape::plain(1, 2, 4), 3, Some(&checkpoint), None).remove(0);
    assert_close("the run resumed on 1 rank", &resumed.0, &ranks[0].0[3..]);
}

#[test]
fn summing_in_buckets_during_the_backward_pass_takes_the_same_steps_as_summing_after_it() {
    let case = &golden().cases[0];
    let dir = tempfile::tempdir().unwrap();
    let (data, weights) = run_files(case, dir.path(), 60);
    let shape = |sums| Shape { world: 2, micro: 2, accumulation: 2, sums: Some(sums), sharded: false, lora: false };
    let steps = 3;
    let whole = Sums::default();
    let after = run_ranks(case, &data, &weights, shape(&whole), steps, None, None);
    assert_eq!(whole.count.load(Ordering::SeqCst), 2 * steps, "one sum of the whole gradient per rank and step");

    // Buckets of a few hundred elements: many per layer, some holding several parameters.
    let elements: usize = case.grads.values().map(|g| g.data.len()).sum();
    let bucketed = Sums { bucket_elements: Some(300), ..Sums::default() };
    let during = run_ranks(case, &data, &weights, shape(&bucketed), steps, None, None);
    let buckets = bucketed.count.load(Ordering::SeqCst) / (2 * steps);
    assert!(buckets >= elements / 600, "{buckets} buckets of a gradient of {elements} elements");
    // The same sums of the same values, element by element: the same bits.
    assert_eq!(during, after);
}

#[test]
fn sharding_the_optimizer_state_takes_the_same_steps_and_saves_and_resumes_the_same_state() {
    let case = &golden().cases[0];
    let dir = tempfile::tempdir().unwrap();
    let (data, weights) = run_files(case, dir.path(), 60);
    let shape = |world, sharded| Shape { world, micro: 2, accumulation: 2, sums: None, sharded, lora: false };
    let (plain_dir, sharded_dir) = (dir.path().join("plain"), dir.path().join("sharded"));
    let plain = run_ranks(case, &data, &weights, shape(2, false), 3, None, Some(&plain_dir));
    let sharded = run_ranks(case, &data, &weights, shape(2, true), 3, None, Some(&sharded_dir));
    // AdamW is element by element: each rank's shard is updated as the whole was, and shared as it is.
    assert_eq!(sharded, plain, "losses, grad norms and weights, bit for bit");
    for file in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        let read = |dir: &Path| std::fs::read(dir.join(file)).unwrap();
        assert!(read(&sharded_dir) == read(&plain_dir), "{file}: the sharded ranks saved what the plain ones did");
    }
    // Resumed sharded on 2 ranks (each loads its shard of the whole state) and plain on 1: the same steps.
    let resumed_sharded = run_ranks(case, &data, &weights, shape(2, true), 2, Some(&sharded_dir), None);
    let resumed_alone = run_ranks(case, &data, &weights, Shape::plain(1, 2, 4), 2, Some(&plain_dir), None);
    assert_close("resumed sharded", &resumed_sharded[0].0, &resumed_alone[0].0);
    assert_eq!(resumed_sharded[0].2, resumed_sharded[1].2, "both ranks hold the same weights after sharing their shards");

    // LoRA: the ranks shard the adapters' state, share the adapters, and merge the same weights.
    let lora = |sharded| Shape { world: 2, micro: 2, accumulation: 2, sums: None, sharded, lora: true };
    let (plain_lora, sharded_lora) = (dir.path().join("plain-lora"), dir.path().join("sharded-lora"));
    let plain = run_ranks(case, &data, &weights, lora(false), 3, None, Some(&plain_lora));
    let sharded = run_ranks(case, &data, &weights, lora(true), 3, None, Some(&sharded_lora));
    assert_eq!(sharded, plain, "LoRA: losses, grad norms and merged weights, bit for bit");
    for file in ["lora.safetensors", "optimizer.safetensors"] {
        let read = |dir: &Path| std::fs::read(dir.join(file)).unwrap();
        assert!(read(&sharded_lora) == read(&plain_lora), "LoRA's {file}: the sharded ranks saved what the plain ones did");
    }
}

#[test]
fn the_ranks_share_the_validation_micro_batches_and_each_reports_the_whole() {
    let case = &golden().cases[0];
    let dir = tempfile::tempdir().unwrap();
    let (data, weights) = run_files(case, dir.path(), 60);
    // The training windows stand in for a validation split: 7 micro-batches of 2 windows.
    let val_options = || TrainerOptions { split_names: Some(("train".into(), "train".into())), ..options(case, &data, &weights, "dp") };
    let max_iters = 7;
    let alone = Trainer::new(val_options()).unwrap().evaluate(max_iters).unwrap();
    let ranks = ThreadRanks::world(2);
    let slots = ranks[0].slots.clone();
    let evaluations: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranks
            .into_iter()
            .map(|ranks| {
                let trainer_options = val_options();
                scope.spawn(move || {
                    let mut trainer = Trainer::new(trainer_options).unwrap();
                    trainer.join(Box::new(ranks));
                    trainer.evaluate(max_iters).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let whole = alone.loss.unwrap();
    for (rank, evaluation) in evaluations.iter().enumerate() {
        let loss = evaluation.loss.unwrap();
        assert!((loss - whole).abs() <= 1e-12 * whole, "rank {rank}'s validation loss {loss} against {whole} alone");
    }
    // What each rank added in: its own micro-batches' targets (the last sum's inputs: nll, targets, ...),
    // 4 and 3 micro-batches of 2 windows of 8 targets.
    let targets: Vec<f64> = slots.lock().unwrap().iter().map(|inputs| inputs[1]).collect();
    assert_eq!(targets, [64.0, 48.0]);
}

#[test]
fn a_sum_that_waits_past_the_limit_ends_the_rank_with_a_message() {
    let (told, heard) = std::sync::mpsc::channel::<String>();
    let limit = std::time::Duration::from_millis(200);
    let mut ranks = ThreadRanks::world(2).into_iter();
    let (first, second) = (ranks.next().unwrap(), ranks.next().unwrap());
    let watched = |ranks: ThreadRanks| {
        let told = told.clone();
        Watched::with_action(Box::new(ranks), limit, Box::new(move |message| told.send(message).unwrap()))
    };
    let (rank0, rank1) = (watched(first), watched(second));

    // Both ranks sum: no alarm, however long the watch goes on after.
    std::thread::scope(|scope| {
        scope.spawn(move || rank1.sum_f64(&mut [2.0]).unwrap());
        let mut values = [1.0];
        rank0.sum_f64(&mut values).unwrap();
        assert_eq!(values, [3.0]);
    });
    std::thread::sleep(limit * 3);
    assert!(heard.try_recv().is_err(), "no alarm after sums that finished");

    // Rank 1 never comes: rank 0's sum waits, and the watch speaks up.
    std::thread::spawn(move || rank0.sum_f64(&mut [1.0]));
    let message = heard.recv_timeout(std::time::Duration::from_secs(10)).expect("the watch names the stuck sum");
    assert!(message.contains("rank 0 of 2: a sum over the ranks waited more than 0.2 s"), "{message}");
}
