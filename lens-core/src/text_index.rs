//! The tantivy index: BM25 over code-aware tokens of content, path and file name.

use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query as TantivyQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, OwnedValue, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::error::{Error, Result};
use crate::tokenize::{CODE_TOKENIZER, CodeTokenizer, for_each_token};

/// Fields of the text index.
#[derive(Debug, Clone, Copy)]
pub struct TextFields {
    pub doc: Field,
    pub content: Field,
    pub path: Field,
    pub name: Field,
}

fn schema() -> (Schema, TextFields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let doc = b.add_u64_field("doc", FAST);
    let content = b.add_text_field("content", text.clone());
    let path = b.add_text_field("path", text.clone());
    let name = b.add_text_field("name", text);
    (
        b.build(),
        TextFields {
            doc,
            content,
            path,
            name,
        },
    )
}

fn register(index: &Index) {
    index
        .tokenizers()
        .register(CODE_TOKENIZER, CodeTokenizer::default());
}

/// A document as the writer queues it: its values are moved in, not copied
/// into tantivy's compact form.
type TextDocument = std::collections::BTreeMap<Field, OwnedValue>;

/// Writes the text index of a bundle under construction.
pub struct TextIndexWriter {
    writer: IndexWriter<TextDocument>,
    fields: TextFields,
}

impl TextIndexWriter {
    /// Creates an index in `dir` (which must exist and be empty).
    pub fn create(dir: &Path, threads: usize, heap_bytes: usize) -> Result<Self> {
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        register(&index);
        let writer = index.writer_with_num_threads(threads.max(1), heap_bytes)?;
        // A bundle is written once; merging segments would cost build time and
        // buy little, since BM25 statistics are searcher-wide anyway.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        Ok(TextIndexWriter { writer, fields })
    }

    /// Queues one document; tantivy's own threads tokenize it.
    pub fn add(&mut self, doc_id: u32, path: &str, content: String) -> Result<()> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let d = TextDocument::from([
            (self.fields.doc, OwnedValue::U64(doc_id as u64)),
            (self.fields.content, OwnedValue::Str(content)),
            (self.fields.path, OwnedValue::Str(path.to_string())),
            (self.fields.name, OwnedValue::Str(name.to_string())),
        ]);
        self.writer.add_document(d)?;
        Ok(())
    }

    /// Commits and waits for the writer's threads.
    pub fn finish(mut self) -> Result<()> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// Read side of the text index.
pub struct TextIndex {
    reader: IndexReader,
    fields: TextFields,
}

impl TextIndex {
    pub fn open(dir: &Path) -> Result<Self> {
        let index = Index::open_in_dir(dir).map_err(|e| Error::corrupt(dir, e.to_string()))?;
        register(&index);
        let (_, fields) = schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TextIndex { reader, fields })
    }

    /// BM25 over content (weight 1), path (2) and file name (3) for the
    /// code tokens of `text`; returns (doc id, score), best first.
    pub fn bm25(&self, text: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        let mut terms: Vec<String> = Vec::new();
        for_each_token(text, |t, _, _| {
            if !terms.iter().any(|x| x == t) {
                terms.push(t.to_string());
            }
        });
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for t in &terms {
            for (field, boost) in [
                (self.fields.content, 1.0f32),
                (self.fields.path, 2.0),
                (self.fields.name, 3.0),
            ] {
                let q = TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let seg = searcher.segment_reader(addr.segment_ord);
            let col = seg.fast_fields().u64("doc")?;
            if let Some(doc) = col.first(addr.doc_id) {
                out.push((doc as u32, score));
            }
        }
        Ok(out)
    }
}
