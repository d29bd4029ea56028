//! SFT data and its loss: conversations in every format become the ids transformers' chat template
//! gives (test/golden/chat_template.json, made by scripts/reference/make_chat_golden.py) with the loss
//! on each reply through its end token; bad records are errors naming the file and line; the masked
//! loss and its gradients agree between the hand-written backward pass and candle's autograd.

use crate::support;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use minilm_core::data::chat_template::ChatTemplate;
use minilm_core::data::tokenizer::DocumentTokenizer;
use minilm_core::model::lora::{LoraConfig, LoraTarget};
use minilm_core::model::{load_adapted_weights, Llama, Precision, TokenBatch, WeightsFormat};
use minilm_core::sft::dataset::{prepare_sft_data, SftDataOptions, SftExamples};
use minilm_core::sft::example::{Built, ExampleBuilder};
use minilm_core::train::batches::DataKind;
use minilm_core::train::dpo::{DpoLossType, DpoOptions};
use minilm_core::train::optimizer::AdamWConfig;
use minilm_core::train::trainer::LoraOptions;
use minilm_core::train::{RestoredState, Trainer, TrainerOptions};
use serde_json::{json, Value};

fn golden_cases() -> Vec<Value> {
    let path = support::repo_root().join("test/golden/chat_template.json");
    let golden: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    golden["cases"].as_array().unwrap().clone()
}

#[test]
fn examples_are_transformers_ids_with_the_replies_masked_in() {
    let mut compared = 0;
    for name in ["minimind-6400", "minimind3-6400"] {
        let dir = support::shared_tokenizer(name);
        let (template, tokenizer) = (ChatTemplate::load(&dir).unwrap(), DocumentTokenizer::load(&dir).unwrap());
        let builder = ExampleBuilder { template: &template, tokenizer: &tokenizer, mask_prompt: true, max_tokens: 100_000 };
        for case in golden_cases()
            .iter()
            .filter(|c| c["tokenizer"] == name && c["add_generation_prompt"] == false && c["template_kwargs"] == json!({}))
        {
            let messages = case["messages"].as_array().unwrap();
            if messages.last().unwrap()["role"] != "assistant" {
                continue;
            }
            let label = format!("{name} {}", case["name"]);
            let Built::Examples { examples, split_by_reply } = builder.build(messages, Some(&case["tools"])).unwrap() else {
                panic!("{label}: skipped")
            };
            let trained: Vec<String> = examples
                .iter()
                .map(|e| tokenizer.decode(&e.ids.iter().zip(&e.mask).filter(|(_, &m)| m == 1).map(|(&id, _)| id).collect::<Vec<_>>()))
                .collect();
            if !split_by_reply {
                let ids: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
                assert_eq!(examples.len(), 1, "{label}");
                assert_eq!(examples[0].ids, ids, "{label}: the ids of apply_chat_template(tokenize=True)");
                compared += 1;
            }
            // Every reply's text is trained on, and nothing of the prompts: the user's words never are.
            let replies: Vec<&str> = messages.iter().filter(|m| m["role"] == "assistant").filter_map(|m| m["content"].as_str()).collect();
            let all = trained.concat();
            for reply in &replies {
                let visible = reply.rsplit("</think>").next().unwrap().trim();
                assert!(all.contains(visible), "{label}: reply {visible:?} not in the trained text {all:?}");
            }
            for user in messages.iter().filter(|m| m["role"] == "user") {
                let text = user["content"].as_str().unwrap();
                assert!(!all.contains(text), "{label}: the user's {text:?} is trained on");
            }
        }
    }
    assert!(compared >= 8, "only {compared} conversations compared with transformers' ids");
}

#[test]
fn the_end_token_is_trained_and_the_header_is_not() {
    let dir = support::shared_tokenizer("minimind-6400");
    let (template, tokenizer) = (ChatTemplate::load(&dir).unwrap(), DocumentTokenizer::load(&dir).unwrap());
    let builder = ExampleBuilder { template: &template, tokenizer: &tokenizer, mask_prompt: true, max_tokens: 100_000 };
    let messages = [json!({"role": "user", "content": "你好"}), json!({"role": "assistant", "content": "你好呀"})];
    let Built::Examples { examples, .. } = builder.build(&messages, None).unwrap() else { panic!() };
    let e = &examples[0];
    let trained: Vec<u32> = e.ids.iter().zip(&e.mask).filter(|(_, &m)| m == 1).map(|(&id, _)| id).collect();
    // minimind's template closes a reply with </s> and a newline.
    assert_eq!(tokenizer.decode(&trained), "你好呀\n", "decoded without special tokens");
    assert!(trained.contains(&tokenizer.eos_id.unwrap_or(2)), "</s> is a target");
    let unmasked = ExampleBuilder { mask_prompt: false, ..builder };
    let Built::Examples { examples, .. } = unmasked.build(&messages, None).unwrap() else { panic!() };
    assert_eq!(
        examples[0].mask.iter().filter(|&&m| m == 1).count(),
        examples[0].ids.len() - 1,
        "mask_prompt: false trains on every target"
    );
}

fn write(path: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

fn options(json_path: &Path, out: &Path) -> SftDataOptions {
    SftDataOptions {
        preferences: false,
        json_path: json_path.to_path_buf(),
        output_dir: out.to_path_buf(),
        tokenizer_dir: support::shared_tokenizer("minimind-6400"),
        format: None,
        mask_prompt: true,
        max_seq_length: 64,
        val_split_fraction: 0.25,
        seed: 7,
    }
}

#[test]
fn every_format_is_read_and_skips_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let turn = |q: &str, a: &str| vec![json!({"role": "user", "content": q}), json!({"role": "assistant", "content": a})];
    let mut minimind: Vec<Value> = (0..20).map(|i| json!({"conversations": turn(&format!("问题{i}"), "答案")})).collect();
    minimind.push(json!({"conversations": []}));
    minimind.push(json!({"conversations": [{"role": "user", "content": "没有回答"}]}));
    minimind.push(json!({"conversations": turn(&"长".repeat(300), "答")}));
    write(&inputs.join("a.jsonl"), &minimind);
    write(&inputs.join("b.jsonl.gz"), &(0..10).map(|i| json!({"messages": turn(&format!("q{i}"), "a")})).collect::<Vec<_>>());
    let sharegpt: Vec<Value> =
        (0..10).map(|i| json!({"conversations": [{"from": "human", "value": format!("h{i}")}, {"from": "gpt", "value": "g"}]})).collect();
    write(&inputs.join("c.jsonl"), &sharegpt);
    std::fs::write(inputs.join("d.json"), json!([{"instruction": "写诗", "input": "", "output": "床前明月光"}]).to_string()).unwrap();

    let out = dir.path().join("sft");
    let summary = prepare_sft_data(&options(&inputs, &out), &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let formats: Vec<&str> = summary.files.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(formats, ["minimind", "openai", "sharegpt", "alpaca"]);
    assert_eq!(summary.records, 44);
    assert_eq!((summary.skipped_empty, summary.skipped_no_assistant, summary.skipped_truncated_away), (1, 1, 1));
    assert_eq!(summary.train_examples + summary.val_examples, 41);
    assert!(summary.val_examples > 0 && summary.train_examples > summary.val_examples, "{summary:?}");
    assert_eq!(summary.skipped_examples.len(), 3);
    assert!(summary.skipped_examples[1].contains("a.jsonl line 22: no assistant turn"), "{:?}", summary.skipped_examples);

    let examples = SftExamples::open(&out).unwrap();
    assert_eq!(examples.train.len() as u64, summary.train_examples);
    let (ids, mask) = examples.read(examples.train[0]).unwrap();
    assert_eq!((ids.len(), mask.len()), (ids.len(), ids.len()));
    assert!(ids.len() <= 65);

    // The same inputs and settings reuse the folder; another seed makes it again.
    let again = prepare_sft_data(&options(&inputs, &out), &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(again.reused);
    let reseeded = prepare_sft_data(&SftDataOptions { seed: 8, ..options(&inputs, &out) }, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(!reseeded.reused);
}

#[test]
fn bad_records_name_the_file_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sft");
    let good = json!({"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]});
    let sharegpt = json!({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]});
    let cases = [
        (
            "missing-role.jsonl",
            vec![good.clone(), json!({"conversations": [{"content": "a"}]})],
            "missing-role.jsonl (line 2): conversations[0] has no \"role\"",
        ),
        (
            "unknown.jsonl",
            vec![json!({"text": "plain text"})],
            "unknown.jsonl (line 1): matches no conversation format; expected one of: minimind",
        ),
        (
            "speaker.jsonl",
            vec![sharegpt, json!({"conversations": [{"from": "robot", "value": "a"}]})],
            "speaker.jsonl (line 2): conversations[0].from is \"robot\"",
        ),
    ];
    for (name, lines, expected) in cases {
        let path = dir.path().join(name);
        write(&path, &lines);
        let error = prepare_sft_data(&options(&path, &out), &mut |_| {}, &AtomicBool::new(false)).expect_err(name).to_string();
        assert!(error.contains(expected), "{name}: {error}");
    }
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"messages\": [}\n").unwrap();
    let error = prepare_sft_data(&options(&broken, &out), &mut |_| {}, &AtomicBool::new(false)).err().unwrap().to_string();
    assert!(error.contains("broken.jsonl (line 1): is not valid JSON"), "{error}");
    assert!(!out.exists(), "a failed run leaves no folder");
}

#[test]
fn masked_loss_and_gradients_agree_between_backprop_and_autograd() {
    // The golden model (checked against PyTorch in model_golden.rs), by hand in float32 and through
    // autograd over the composite layers in float64.
    let case = &support::golden().cases[0];
    let by_hand = support::model(case);
    let autograd = Llama::new(case.config.clone(), by_hand.params.to_dtype(DType::F64).unwrap(), &Device::Cpu).unwrap();
    let vocab = case.config.padded_vocab_size as u32;
    let (b, t) = (2, 6);
    let inputs = Tensor::from_vec((0..(b * t) as u32).map(|i| (i * 7) % vocab).collect::<Vec<_>>(), (b, t), &Device::Cpu).unwrap();
    let targets = Tensor::from_vec((0..(b * t) as u32).map(|i| (i * 11 + 3) % vocab).collect::<Vec<_>>(), b * t, &Device::Cpu).unwrap();
    let rows = [2u32, 3, 4, 9];
    let batch = TokenBatch {
        inputs: inputs.clone(),
        targets: targets.clone(),
        scored: Some(Tensor::new(&rows[..], &Device::Cpu).unwrap()),
        packing: None,
    };

    // The loss by definition: the mean over the scored rows of -log softmax(logits)[target], from the
    // full forward pass.
    let logits = by_hand.forward(&inputs).unwrap().reshape((b * t, vocab as usize)).unwrap();
    let log_probs = candle_nn::ops::log_softmax(&logits, 1).unwrap().to_vec2::<f32>().unwrap();
    let targets_host = targets.to_vec1::<u32>().unwrap();
    let expected = rows.iter().map(|&r| -log_probs[r as usize][targets_host[r as usize] as usize] as f64).sum::<f64>() / rows.len() as f64;

    let (loss, grads) = by_hand.batch_loss_and_grads(&batch, 1.0).unwrap();
    let (reference_loss, reference_grads) = autograd.batch_loss_and_grads(&batch, 1.0).unwrap();
    let loss = loss.to_scalar::<f32>().unwrap() as f64;
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    assert!((reference_loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap() - expected).abs() < 1e-5);
    assert!((by_hand.batch_loss(&batch).unwrap().to_scalar::<f32>().unwrap() as f64 - expected).abs() < 1e-5);
    for (((name, _), grad), reference) in by_hand.params.iter().zip(&grads).zip(&reference_grads) {
        let reference = reference.to_dtype(DType::F32).unwrap();
        let diff = (grad - &reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let scale = reference.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
        assert!(diff / scale < 1e-4, "{name}: {diff} (scale {scale})");
    }
}

/// A trainer for the SFT data at `data`: the golden architecture with the reference tokenizer's
/// vocabulary and `block` positions, initialised from a seed, two micro-batches of `micro_batch_size` a step.
fn tiny_trainer(data: &Path, block: usize, seq_len: usize, micro_batch_size: usize) -> TrainerOptions {
    let mut model = support::golden().cases[0].config.clone();
    (model.vocab_size, model.padded_vocab_size, model.block_size) = (6400, 6400, block);
    TrainerOptions {
        model,
        seed: 3,
        data_path: data.to_path_buf(),
        data_kind: DataKind::Sft,
        split_names: None,
        micro_batch_size,
        seq_len,
        accumulation: 2,
        optimizer: AdamWConfig { weight_decay: 0.0, betas: (0.9, 0.95), eps: 1e-8 },
        max_norm: 1.0,
        initial_weights: None,
        initial_weights_format: Default::default(),
        device: "cpu".into(),
        precision: Precision::Float32,
        run_settings: "test".into(),
        mixture: None,
        tokenizer_dir: None,
        attention: Default::default(),
        packing: false,
        dpo: None,
        initial_adapters: Vec::new(),
        lora: None,
    }
}

/// 24 short conversations prepared as SFT data under `dir`; returns the data folder and its summary.
fn short_conversations(dir: &Path) -> (std::path::PathBuf, minilm_core::sft::dataset::SftDataSummary) {
    let conversations = dir.join("chat.jsonl");
    let records: Vec<Value> = (0..24)
        .map(|i| json!({"messages": [{"role": "user", "content": format!("第{i}个问题是什么")}, {"role": "assistant", "content": "回答".repeat(1 + i % 5)}]}))
        .collect();
    write(&conversations, &records);
    let data = dir.join("sft-data");
    let summary = prepare_sft_data(&options(&conversations, &data), &mut |_| {}, &AtomicBool::new(false)).unwrap();
    (data, summary)
}

#[test]
fn an_sft_run_resumes_with_the_same_losses_bit_for_bit() {
    sft_run_resumes_exactly(false);
}

#[test]
fn a_packed_sft_run_resumes_with_the_same_losses_bit_for_bit() {
    sft_run_resumes_exactly(true);
}

fn sft_run_resumes_exactly(packing: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (data, summary) = short_conversations(dir.path());
    // Packed rows of 128 positions hold several of these conversations (about 40 tokens each).
    let seq_len = if packing { 128 } else { 64 };
    let trainer_options = TrainerOptions { packing, ..tiny_trainer(&data, 128, seq_len, 3) };
    let run = |trainer: &mut Trainer, steps: usize| -> Vec<(u64, u64)> {
        (0..steps).map(|_| trainer.step(1e-3).map(|s| (s.loss.to_bits(), s.tokens)).unwrap()).collect()
    };
    let mut unbroken = Trainer::new(trainer_options.clone()).unwrap();
    if packing {
        let rows = unbroken.info().train_windows;
        assert!(rows < summary.train_examples, "{rows} rows for {} examples", summary.train_examples);
    } else {
        assert_eq!(unbroken.info().train_windows, summary.train_examples);
    }
    let expected = run(&mut unbroken, 6);
    assert!(expected.iter().all(|&(_, tokens)| tokens > 0 && tokens < 2 * 3 * seq_len as u64), "{expected:?}");

    let mut first = Trainer::new(trainer_options.clone()).unwrap();
    assert_eq!(run(&mut first, 3), expected[..3]);
    let checkpoint = dir.path().join("step-3");
    std::fs::create_dir(&checkpoint).unwrap();
    first.save(&checkpoint).unwrap();
    let mut resumed = Trainer::new(trainer_options).unwrap();
    let tokens: u64 = expected[..3].iter().map(|&(_, t)| t).sum();
    assert_eq!(resumed.restore(&checkpoint).unwrap(), RestoredState { step: 3, tokens, source_tokens: vec![] });
    assert_eq!(run(&mut resumed, 3), expected[3..], "the resumed SFT run continues exactly");
    let val = resumed.evaluate(2).unwrap().loss.expect("a validation split");
    assert!(val.is_finite() && val > 0.0);
}

#[test]
fn a_template_that_refuses_a_conversation_is_quoted_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = dir.path().join("tokenizer");
    std::fs::create_dir(&tokenizer).unwrap();
    let reference = support::shared_tokenizer("minimind-6400");
    std::fs::copy(reference.join("tokenizer.json"), tokenizer.join("tokenizer.json")).unwrap();
    let mut config: Value = serde_json::from_slice(&std::fs::read(reference.join("tokenizer_config.json")).unwrap()).unwrap();
    config["chat_template"] = json!(
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('this template has no tool turns') }}{% endif %}{{ m['content'] }}{% endfor %}"
    );
    std::fs::write(tokenizer.join("tokenizer_config.json"), config.to_string()).unwrap();
    let file = dir.path().join("chat.jsonl");
    let tool =
        json!({"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "42"}, {"role": "assistant", "content": "a"}]});
    write(&file, &[json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}), tool]);
    let options = SftDataOptions { tokenizer_dir: tokenizer, ..options(&file, &dir.path().join("out")) };
    let error = prepare_sft_data(&options, &mut |_| {}, &AtomicBool::new(false)).expect_err("refused").to_string();
    assert!(error.contains("chat.jsonl (line 2)") && error.contains("this template has no tool turns"), "{error}");
}

#[test]
fn preference_pairs_in_every_layout_become_a_chosen_and_a_rejected_example_scored_on_the_replies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs.jsonl");
    let conversation = |q: &str, a: &str| json!([{"role": "user", "content": q}, {"role": "assistant", "content": a}]);
    let records = [
        json!({"prompt": "《静夜思》的作者是谁？", "chosen": "李白。", "rejected": "杜甫。"}),
        json!({"prompt": [{"role": "user", "content": "《春晓》的作者是谁？"}], "chosen": [{"role": "assistant", "content": "孟浩然。"}], "rejected": [{"role": "assistant", "content": "王维。"}]}),
        json!({"chosen": conversation("《登鹳雀楼》的作者是谁？", "王之涣。"), "rejected": conversation("《登鹳雀楼》的作者是谁？", "李商隐。")}),
        json!({"prompt": "一样吗？", "chosen": "一样。", "rejected": "一样。"}),
        json!({"prompt": "写长一点。", "chosen": "长".repeat(200), "rejected": "短。"}),
    ];
    write(&file, &records);
    let out = dir.path().join("pairs");
    let options = SftDataOptions { preferences: true, val_split_fraction: 0.0, ..options(&file, &out) };
    let summary = prepare_sft_data(&options, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!((summary.records, summary.train_examples, summary.val_examples), (5, 6, 0));
    assert_eq!((summary.skipped_identical, summary.skipped_reply_too_long), (1, 1));
    assert_eq!(summary.files[0].1, "preferences");

    let tokenizer = DocumentTokenizer::load(&support::shared_tokenizer("minimind-6400")).unwrap();
    let examples = SftExamples::open(&out).unwrap();
    let replies = [("李白。", "杜甫。"), ("孟浩然。", "王维。"), ("王之涣。", "李商隐。")];
    for (pair, (chosen_reply, rejected_reply)) in replies.iter().enumerate() {
        let (chosen, chosen_mask) = examples.read(2 * pair as u64).unwrap();
        let (rejected, rejected_mask) = examples.read(2 * pair as u64 + 1).unwrap();
        // The same prompt, unscored; the loss on the reply through the end of its turn.
        let prompt_len = chosen_mask.iter().position(|&m| m == 1).unwrap();
        assert_eq!(prompt_len, rejected_mask.iter().position(|&m| m == 1).unwrap());
        assert_eq!(chosen[..prompt_len], rejected[..prompt_len]);
        let scored = |ids: &[u32], mask: &[u8]| {
            let kept: Vec<u32> = ids.iter().zip(mask).filter(|(_, &m)| m == 1).map(|(&id, _)| id).collect();
            tokenizer.hf().decode(&kept, false).unwrap()
        };
        assert!(scored(&chosen, &chosen_mask).starts_with(chosen_reply), "{}", scored(&chosen, &chosen_mask));
        assert!(scored(&rejected, &rejected_mask).starts_with(rejected_reply), "{}", scored(&rejected, &rejected_mask));
    }

    write(&file, &[records[0].clone(), json!({"prompt": "q", "chosen": 2, "rejected": "3"})]);
    let error = prepare_sft_data(&options, &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(
        error.contains("pairs.jsonl") && error.contains("line 2") && error.contains("\"chosen\" must be a string or a list of messages"),
        "{error}"
    );
}

#[test]
fn a_dpo_run_starts_at_log_2_learns_its_pairs_and_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs.jsonl");
    let records: Vec<Value> =
        (0..32).map(|i| json!({"prompt": format!("第{i}句对不对？"), "chosen": "对。".repeat(1 + i % 3), "rejected": "错了。"})).collect();
    write(&file, &records);
    let data = dir.path().join("pairs");
    let prepared = SftDataOptions { preferences: true, ..options(&file, &data) };
    let summary = prepare_sft_data(&prepared, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let trainer_options = TrainerOptions {
        dpo: Some(DpoOptions { beta: 0.1, loss_type: DpoLossType::Sigmoid, label_smoothing: 0.0 }),
        ..tiny_trainer(&data, 64, 64, 4)
    };
    let mut unbroken = Trainer::new(trainer_options.clone()).unwrap();
    assert_eq!(unbroken.info().train_windows * 2, summary.train_examples, "a training item is a pair");
    // The policy starts as the reference: every margin is 0, the loss log 2, the rewards 0.
    let before = unbroken.evaluate(100).unwrap().dpo.expect("validation pairs");
    assert!((before.loss - std::f64::consts::LN_2).abs() < 1e-5 && before.rewards_margins.abs() < 1e-5, "{before:?}");
    let run =
        |trainer: &mut Trainer, steps: usize| -> Vec<u64> { (0..steps).map(|_| trainer.step(1e-2).unwrap().loss.to_bits()).collect() };
    let expected = run(&mut unbroken, 8);
    let first = f64::from_bits(expected[0]);
    assert!((first - std::f64::consts::LN_2).abs() < 1e-5, "first step's loss {first}");
    // The held-out pairs: the chosen reply gains on the rejected one.
    let after = unbroken.evaluate(100).unwrap().dpo.unwrap();
    assert!(after.rewards_accuracies > 0.9 && after.loss < before.loss - 0.1 && after.rewards_margins > 0.5, "{after:?}");

    let mut stopped = Trainer::new(trainer_options.clone()).unwrap();
    assert_eq!(run(&mut stopped, 3), expected[..3]);
    let checkpoint = dir.path().join("step-3");
    std::fs::create_dir(&checkpoint).unwrap();
    stopped.save(&checkpoint).unwrap();
    // A new trainer reads the reference log-probabilities back from the data folder.
    let mut resumed = Trainer::new(trainer_options).unwrap();
    resumed.restore(&checkpoint).unwrap();
    assert_eq!(run(&mut resumed, 5), expected[3..], "the resumed DPO run continues exactly");
}

#[test]
fn a_lora_run_trains_the_adapters_alone_saves_them_alone_and_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = short_conversations(dir.path());
    // The base: the tiny model as a fresh run initialises it, saved as a checkpoint's weights.
    let full = tiny_trainer(&data, 64, 64, 3);
    let base_dir = dir.path().join("base");
    std::fs::create_dir(&base_dir).unwrap();
    let base_file = base_dir.join("model.safetensors");
    Trainer::new(full.clone()).unwrap().model.params.save(&base_file).unwrap();
    let lora = LoraOptions {
        config: LoraConfig { r: 4, alpha: 8.0, targets: vec![LoraTarget::Qkv, LoraTarget::Proj, LoraTarget::Mlp] },
        base_dir: base_dir.clone(),
    };
    let trainer_options = TrainerOptions { initial_weights: Some(base_file.clone()), lora: Some(lora), ..full };
    let run =
        |trainer: &mut Trainer, steps: usize| -> Vec<u64> { (0..steps).map(|_| trainer.step(1e-2).unwrap().loss.to_bits()).collect() };

    let mut unbroken = Trainer::new(trainer_options.clone()).unwrap();
    let info = unbroken.info();
    assert!(info.trained_parameters * 10 < info.parameters, "{} of {} parameters trained", info.trained_parameters, info.parameters);
    let before = unbroken.evaluate(4).unwrap().loss.unwrap();
    let expected = run(&mut unbroken, 6);
    let after = unbroken.evaluate(4).unwrap().loss.unwrap();
    assert!(after < before - 0.05, "validation loss {before} -> {after}");

    let mut stopped = Trainer::new(trainer_options.clone()).unwrap();
    assert_eq!(run(&mut stopped, 3), expected[..3]);
    let checkpoint = dir.path().join("step-3");
    std::fs::create_dir(&checkpoint).unwrap();
    stopped.save(&checkpoint).unwrap();
    assert!(!checkpoint.join("model.safetensors").exists(), "a LoRA checkpoint holds the adapters alone");
    let adapters = std::fs::metadata(checkpoint.join("lora.safetensors")).unwrap().len();
    let base = std::fs::metadata(&base_file).unwrap().len();
    assert!(adapters * 10 < base, "adapters {adapters} bytes, base {base}");
    // The base plus the folder's adapters is the model the run was training.
    let loaded =
        load_adapted_weights(WeightsFormat::Minilm, &stopped.options.model, &base_file, std::slice::from_ref(&checkpoint), &Device::Cpu)
            .unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(flat(loaded.flat().as_tensor()), flat(stopped.model.params.flat().as_tensor()));
    // The embedding and the norms are not adapted: they never move.
    let base_params = minilm_core::model::Parameters::load(&stopped.options.model, &base_file, &Device::Cpu).unwrap();
    for name in ["transformer.wte.weight", "transformer.h.0.norm_1.weight", "transformer.ln_f.weight"] {
        assert_eq!(flat(loaded.get(name)), flat(base_params.get(name)), "{name}");
    }

    let mut resumed = Trainer::new(trainer_options).unwrap();
    resumed.restore(&checkpoint).unwrap();
    assert_eq!(run(&mut resumed, 3), expected[3..], "the resumed LoRA run continues exactly");
}
