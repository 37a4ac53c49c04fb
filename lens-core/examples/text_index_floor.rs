//! What tantivy alone costs for a bundle's content: feeds the content of an
//! existing bundle to a fresh text index with the bundle builder's schema,
//! threads and heap, and times it.
//!
//! `cargo run --release -p lens-core --example text_index_floor BUNDLE [tokenize|replay] [doc|path]`
//!
//! - `tokenize` (default) hands tantivy the text and the code tokenizer, as a build does;
//! - `replay` counts every document's tokens before the clock starts and hands tantivy the
//!   counted tokens, so that the time is tantivy's postings work with no tokenizing at all;
//! - `doc` (default) feeds documents in doc-id (static-rank) order, `path` in path order.

use std::collections::HashMap;
use std::time::Instant;

use lens_core::bundle::BundleReader;
use lens_core::tokenize::{CODE_TOKENIZER, CodeTokenizer, for_each_token};
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::{FAST, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexWriter, TantivyDocument};

const REPLAY: &str = "lens_replay";

fn main() {
    let mut args = std::env::args().skip(1);
    let bundle = args
        .next()
        .expect("usage: text_index_floor BUNDLE [tokenize|replay] [doc|path]");
    let mode = args.next().unwrap_or_else(|| "tokenize".into());
    let order = args.next().unwrap_or_else(|| "doc".into());
    let reader = BundleReader::open(std::path::Path::new(&bundle)).expect("open bundle");
    let docs = reader.docs();
    let mut ids: Vec<u32> = (0..docs.len() as u32).collect();
    if order == "path" {
        ids.sort_by_cached_key(|&d| reader.path(&docs.get(d)).into_owned());
    }
    let replay = mode == "replay";
    // Counted tokens as "token count\n" lines, prepared before the clock starts.
    let texts: Vec<String> = if replay {
        ids.iter()
            .map(|&d| {
                let text = String::from_utf8_lossy(reader.content(&docs.get(d)));
                let mut counts: HashMap<String, u32> = HashMap::new();
                let mut order: Vec<String> = Vec::new();
                for_each_token(&text, |t, _, _| match counts.get_mut(t) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(t.to_string(), 1);
                        order.push(t.to_string());
                    }
                });
                let mut s = String::new();
                for t in order {
                    s.push_str(&format!("{t} {}\n", counts[&t]));
                }
                s
            })
            .collect()
    } else {
        Vec::new()
    };
    let tokenizer = if replay { REPLAY } else { CODE_TOKENIZER };
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let mut b = Schema::builder();
    let doc_field = b.add_u64_field("doc", FAST);
    let content = b.add_text_field("content", text);
    let dir = tempfile::tempdir().expect("temp dir");
    let index = Index::create_in_dir(dir.path(), b.build()).expect("create index");
    index
        .tokenizers()
        .register(CODE_TOKENIZER, CodeTokenizer::default());
    index
        .tokenizers()
        .register(REPLAY, ReplayTokenizer::default());
    let threads = rayon::current_num_threads();
    let started = Instant::now();
    let heap: usize = std::env::var("HEAP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
        << 20;
    let mut writer: IndexWriter = index
        .writer_with_num_threads(threads, heap)
        .expect("writer");
    writer.set_merge_policy(Box::new(NoMergePolicy));
    let mut bytes = 0u64;
    for (i, &d) in ids.iter().enumerate() {
        let r = docs.get(d);
        bytes += r.content_len;
        let mut doc = TantivyDocument::default();
        doc.add_u64(doc_field, d as u64);
        if replay {
            doc.add_text(content, &texts[i]);
        } else {
            doc.add_text(content, String::from_utf8_lossy(reader.content(&r)));
        }
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    writer.wait_merging_threads().expect("wait");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{mode}, {order} order, {threads} threads: {} docs, {:.1} MB in {secs:.2} s = {:.1} MB/s of content",
        ids.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
}

/// Replays "token count\n" lines as `count` tokens each.
#[derive(Clone, Default)]
struct ReplayTokenizer {
    token: Token,
}

struct ReplayStream<'a> {
    lines: std::str::Lines<'a>,
    left: u32,
    position: usize,
    token: &'a mut Token,
}

impl Tokenizer for ReplayTokenizer {
    type TokenStream<'a> = ReplayStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> ReplayStream<'a> {
        self.token.reset();
        ReplayStream {
            lines: text.lines(),
            left: 0,
            position: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for ReplayStream<'_> {
    fn advance(&mut self) -> bool {
        while self.left == 0 {
            let Some(line) = self.lines.next() else {
                return false;
            };
            let (t, n) = line.split_once(' ').expect("token count");
            self.token.text.clear();
            self.token.text.push_str(t);
            self.left = n.parse().expect("count");
        }
        self.left -= 1;
        self.token.position = self.position;
        self.position += 1;
        true
    }
    fn token(&self) -> &Token {
        self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}
