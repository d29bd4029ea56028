//! `eval --tasks`: multiple-choice accuracy by log-likelihood, scored as lm-eval-harness scores it.
//!
//! Two layouts, told apart by their fields:
//! - C-Eval / CMMLU (CSV with a header, or JSON Lines): `question`, `A`-`D`, `answer` (a letter). The
//!   prompt is lm-eval's ceval template, `{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n答案：`, and the
//!   choices are the letters, each after lm-eval's target delimiter (a space).
//! - HellaSwag (JSON Lines): `ctx_a`, `ctx_b` (or `ctx`), `activity_label`, `endings`, `label`, put
//!   through lm-eval's hellaswag preprocessing; the choices are the endings. acc_norm divides each
//!   ending's log-likelihood by its UTF-8 bytes (lm-eval divides by characters: the same for English).
//!
//! An item's score is the sum of its continuation's token log-likelihoods after the context, the pair
//! encoded as lm-eval encodes it (trailing spaces of the context move to the continuation; the
//! continuation's ids are those of context + continuation past the context's).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::likelihood::continuation_loglikelihoods;
use crate::data::readers::decompressed_lines;
use crate::data::tokenizer::DocumentTokenizer;
use crate::error::{Error, Result};
use crate::model::Llama;

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];
/// lm-eval's default target_delimiter.
const TARGET_DELIMITER: &str = " ";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskLayout {
    /// C-Eval / CMMLU: a question and four lettered options.
    Letters,
    /// HellaSwag: a context and its possible endings.
    Endings,
}

impl TaskLayout {
    pub fn name(self) -> &'static str {
        match self {
            TaskLayout::Letters => "ceval",
            TaskLayout::Endings => "hellaswag",
        }
    }
}

/// One question, ready to score.
#[derive(Clone, Debug)]
pub struct ChoiceItem {
    /// Where it is in its file: `line 3` or `row 3`.
    pub location: String,
    pub context: String,
    pub choices: Vec<String>,
    pub gold: usize,
}

#[derive(Clone, Debug)]
pub struct TaskFile {
    pub path: PathBuf,
    pub layout: TaskLayout,
    pub items: Vec<ChoiceItem>,
}

/// Reads a task file (.csv, .jsonl, .jsonl.gz, .jsonl.zst, .json lines); `description` goes before
/// every context, as lm-eval's task descriptions do.
pub fn read_task_file(path: &Path, description: &str) -> Result<TaskFile> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let records = if name.ends_with(".csv") { csv_records(path)? } else { json_records(path)? };
    if records.is_empty() {
        return Err(Error::input(
            path,
            None,
            "holds no item; expected C-Eval / CMMLU rows (question, A-D, answer) or HellaSwag lines (ctx, endings, label)",
        ));
    }
    let layout = if records[0].1.get("endings").is_some() { TaskLayout::Endings } else { TaskLayout::Letters };
    let items = records
        .into_iter()
        .map(|(location, record)| {
            let mut item = match layout {
                TaskLayout::Letters => letters_item(path, &location, &record)?,
                TaskLayout::Endings => endings_item(path, &location, &record)?,
            };
            item.context.insert_str(0, description);
            Ok(item)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TaskFile { path: path.to_path_buf(), layout, items })
}

/// A record's fields by name, case-insensitively (CMMLU writes `Question`, C-Eval `question`).
struct Record(serde_json::Map<String, Value>);

impl Record {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).or_else(|| self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
    }

    fn text(&self, path: &Path, location: &str, key: &str) -> Result<String> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(Error::input(path, Some(location.into()), format!("'{key}' is {other}; expected text"))),
            None => Err(Error::input(path, Some(location.into()), format!("has no '{key}' field; found {}", self.keys()))),
        }
    }

    fn keys(&self) -> String {
        let keys: Vec<&str> = self.0.keys().map(String::as_str).collect();
        format!("[{}]", keys.join(", "))
    }
}

fn letters_item(path: &Path, location: &str, record: &Record) -> Result<ChoiceItem> {
    let question = record.text(path, location, "question")?;
    let options = LETTERS.iter().map(|l| record.text(path, location, l)).collect::<Result<Vec<_>>>()?;
    let answer = record.text(path, location, "answer")?;
    let gold = LETTERS.iter().position(|l| *l == answer.trim()).ok_or_else(|| {
        Error::input(
            path,
            Some(location.into()),
            format!("answer is '{answer}'; expected one of A, B, C, D (a test split without answers cannot be scored)"),
        )
    })?;
    let context = format!("{}\nA. {}\nB. {}\nC. {}\nD. {}\n答案：", question.trim(), options[0], options[1], options[2], options[3]);
    Ok(ChoiceItem { location: location.into(), context, choices: LETTERS.iter().map(|l| l.to_string()).collect(), gold })
}

fn endings_item(path: &Path, location: &str, record: &Record) -> Result<ChoiceItem> {
    let ctx = match (record.get("ctx_a"), record.get("ctx_b")) {
        (Some(_), Some(_)) => format!("{} {}", record.text(path, location, "ctx_a")?, capitalize(&record.text(path, location, "ctx_b")?)),
        _ => record.text(path, location, "ctx")?,
    };
    let label = match record.get("activity_label") {
        Some(_) => record.text(path, location, "activity_label")?,
        None => String::new(),
    };
    let endings = match record.get("endings") {
        Some(Value::Array(endings)) if endings.len() >= 2 && endings.iter().all(Value::is_string) => {
            endings.iter().map(|e| preprocess(e.as_str().unwrap_or_default())).collect::<Vec<_>>()
        }
        _ => return Err(Error::input(path, Some(location.into()), "'endings' is not a list of two or more texts")),
    };
    let gold_text = record.text(path, location, "label")?;
    let gold = gold_text.trim().parse::<usize>().ok().filter(|&g| g < endings.len()).ok_or_else(|| {
        Error::input(
            path,
            Some(location.into()),
            format!("label is '{gold_text}'; expected the index of the right ending, 0 to {}", endings.len() - 1),
        )
    })?;
    Ok(ChoiceItem { location: location.into(), context: preprocess(&format!("{label}: {ctx}")), choices: endings, gold })
}

/// Python's str.capitalize: the first character upper-cased, the rest lower-cased.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

/// lm-eval's hellaswag preprocess: strip, " [title]" to ". ", drop `[...]` spans (within a line, the
/// shortest), then double spaces to single (one pass, as str.replace does).
fn preprocess(text: &str) -> String {
    let text = text.trim().replace(" [title]", ". ");
    let mut kept = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('[') {
        kept.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find([']', '\n']) {
            Some(end) if after.as_bytes()[end] == b']' => rest = &after[end + 1..],
            _ => {
                kept.push('[');
                rest = after;
            }
        }
    }
    kept.push_str(rest);
    kept.replace("  ", " ")
}

fn csv_records(path: &Path) -> Result<Vec<(String, Record)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::input(path, None, format!("cannot open: {e}")))?;
    let headers = reader.headers().map_err(|e| Error::input(path, Some("line 1".into()), format!("cannot read the header: {e}")))?.clone();
    let mut records = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let location = format!("row {}", index + 1);
        let row = row.map_err(|e| Error::input(path, Some(location.clone()), format!("malformed CSV: {e}")))?;
        let map = headers.iter().zip(row.iter()).map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect();
        records.push((location, Record(map)));
    }
    Ok(records)
}

fn json_records(path: &Path) -> Result<Vec<(String, Record)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::input(path, None, format!("cannot open: {e}")))?;
    let (lines, _) = decompressed_lines(path, file)?;
    let mut records = Vec::new();
    for (index, line) in lines.lines().enumerate() {
        let location = format!("line {}", index + 1);
        let line = line.map_err(|e| Error::input(path, Some(location.clone()), format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(map)) => records.push((location, Record(map))),
            Ok(other) => return Err(Error::input(path, Some(location), format!("found {other}; expected one JSON object per line"))),
            Err(e) => {
                return Err(Error::input(
                    path,
                    Some(location),
                    format!("malformed JSON at column {}: {e}; expected one JSON object per line", e.column()),
                ))
            }
        }
    }
    Ok(records)
}

/// One item's outcome.
#[derive(Clone, Debug)]
pub struct ItemScore {
    pub location: String,
    /// Log-likelihood (nats) of each choice.
    pub loglikelihoods: Vec<f64>,
    /// The UTF-8 bytes of each choice, acc_norm's divisor.
    pub choice_bytes: Vec<u64>,
    pub gold: usize,
    pub predicted: usize,
    pub predicted_norm: usize,
}

#[derive(Clone, Debug)]
pub struct TaskScore {
    pub path: PathBuf,
    pub layout: TaskLayout,
    pub items: Vec<ItemScore>,
}

/// A share of items, with its 95% Wilson interval.
#[derive(Clone, Copy, Debug)]
pub struct Accuracy {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl TaskScore {
    pub fn accuracy(&self) -> Accuracy {
        wilson(self.items.iter().filter(|i| i.predicted == i.gold).count(), self.items.len())
    }

    /// HellaSwag's length-normalised accuracy (for letters it equals `accuracy`).
    pub fn accuracy_norm(&self) -> Accuracy {
        wilson(self.items.iter().filter(|i| i.predicted_norm == i.gold).count(), self.items.len())
    }

    /// What guessing scores: the mean of 1 / choices.
    pub fn chance(&self) -> f64 {
        self.items.iter().map(|i| 1.0 / i.loglikelihoods.len() as f64).sum::<f64>() / self.items.len().max(1) as f64
    }
}

/// The 95% Wilson score interval of `k` successes in `n` (better than the normal one near 0 and 1, and for few items).
pub fn wilson(k: usize, n: usize) -> Accuracy {
    if n == 0 {
        return Accuracy { value: 0.0, low: 0.0, high: 0.0 };
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    Accuracy { value: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

/// The context's and each continuation's ids as lm-eval's `_encode_pair` makes them.
pub fn encode_pair(tokenizer: &DocumentTokenizer, context: &str, continuation: &str) -> std::result::Result<(Vec<u32>, Vec<u32>), String> {
    let trimmed = context.trim_end();
    let (context, continuation) = (trimmed, format!("{}{continuation}", &context[trimmed.len()..]));
    let whole = tokenizer.encode_text(&format!("{context}{continuation}"))?;
    let context_ids = tokenizer.encode_text(context)?;
    let continuation_ids = whole[context_ids.len().min(whole.len())..].to_vec();
    Ok((context_ids, continuation_ids))
}

/// Scores every item of `task`; `progress(done)` after each.
pub fn score_task(
    model: &Llama,
    tokenizer: &DocumentTokenizer,
    task: &TaskFile,
    cancel: &AtomicBool,
    mut progress: impl FnMut(usize),
) -> Result<TaskScore> {
    let mut items = Vec::with_capacity(task.items.len());
    for (done, item) in task.items.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let at = |e: String| Error::input(&task.path, Some(item.location.clone()), format!("cannot tokenize: {e}"));
        let mut context_ids = Vec::new();
        let mut continuations = Vec::new();
        for choice in &item.choices {
            let (context, continuation) = encode_pair(tokenizer, &item.context, &format!("{TARGET_DELIMITER}{choice}")).map_err(at)?;
            context_ids = context;
            continuations.push(continuation);
        }
        // An empty context is scored after EOS, as lm-eval does with its prefix token.
        if context_ids.is_empty() {
            context_ids.extend(tokenizer.eos_id);
        }
        let loglikelihoods = continuation_loglikelihoods(model, &context_ids, &continuations)?;
        let choice_bytes: Vec<u64> = item.choices.iter().map(|c| c.len() as u64).collect();
        let predicted = argmax(loglikelihoods.iter().copied());
        let predicted_norm = argmax(loglikelihoods.iter().zip(&choice_bytes).map(|(ll, &b)| ll / b.max(1) as f64));
        items.push(ItemScore { location: item.location.clone(), loglikelihoods, choice_bytes, gold: item.gold, predicted, predicted_norm });
        progress(done + 1);
    }
    Ok(TaskScore { path: task.path.clone(), layout: task.layout, items })
}

/// The first index of the largest value, as numpy's argmax breaks ties.
fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellaswag_preprocessing_is_lm_evals() {
        assert_eq!(
            preprocess(" Removing ice from car: [header] Then, the man [title] writes  over the snow [step] "),
            "Removing ice from car: Then, the man. writes over the snow "
        );
        assert_eq!(preprocess("a [b\nc] d"), "a [b\nc] d");
        assert_eq!(preprocess("no [closing"), "no [closing");
        assert_eq!(capitalize("tHE man"), "The man");
    }

    #[test]
    fn the_wilson_interval_of_a_quarter_of_a_hundred() {
        let a = wilson(25, 100);
        assert!((a.low - 0.1754).abs() < 1e-4 && (a.high - 0.3430).abs() < 1e-4, "{a:?}");
        let all = wilson(10, 10);
        assert!(all.high > 0.9999, "{all:?}");
        assert!((all.low - 0.7225).abs() < 1e-4, "{all:?}");
    }

    #[test]
    fn ties_go_to_the_first_choice() {
        assert_eq!(argmax([-1.0, -0.5, -0.5].into_iter()), 1);
    }
}
