//! Chunk embeddings in the bundle: int8 vectors (one scale per vector), memory-mapped.
//!
//! | file | content |
//! |---|---|
//! | `emb.vec` | `chunks × dims` signed bytes, row-major; `x ≈ scale × q` |
//! | `emb.chunks` | per chunk: doc, start, end, name start, name end (u32 LE), scale (f32 LE) |
//! | `emb.docs` | `docs + 1` u32 LE: chunk ids of doc `d` are `docs[d]..docs[d+1]` |
//!
//! Chunks are stored in doc order. Search is exact (every vector is scored): at 384 int8
//! dimensions that is ~0.1 ms per thousand chunks per core, and exactness keeps the
//! evaluation honest; an approximate index can come when bundles outgrow it.

use std::ops::{Deref, Range};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};

pub const VECTORS_FILE: &str = "emb.vec";
pub const CHUNKS_FILE: &str = "emb.chunks";
pub const DOCS_FILE: &str = "emb.docs";
const CHUNK_RECORD_BYTES: usize = 24;
/// Vectors scored per parallel task.
const SCAN_BLOCK: usize = 4096;

/// Where one stored chunk sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRecord {
    pub doc: u32,
    pub start: u32,
    pub end: u32,
    pub name_start: u32,
    pub name_end: u32,
    pub scale: f32,
}

/// Collects quantised chunk embeddings while a bundle is built.
#[derive(Debug, Default)]
pub struct EmbeddingWriter {
    dims: usize,
    vectors: Vec<i8>,
    chunks: Vec<u8>,
    /// Chunk count before each doc that has chunks, as (doc, first chunk).
    doc_firsts: Vec<(u32, u32)>,
    count: u32,
}

impl EmbeddingWriter {
    pub fn new(dims: usize) -> Self {
        EmbeddingWriter {
            dims,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds one chunk; docs must come in ascending order.
    pub fn push(&mut self, rec: ChunkSpan, vector: &[f32]) {
        assert_eq!(vector.len(), self.dims, "embedding width");
        if self.doc_firsts.last().is_none_or(|&(d, _)| d != rec.doc) {
            debug_assert!(self.doc_firsts.last().is_none_or(|&(d, _)| d < rec.doc));
            self.doc_firsts.push((rec.doc, self.count));
        }
        let max = vector.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        self.vectors.extend(
            vector
                .iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
        );
        for v in [rec.doc, rec.start, rec.end, rec.name_start, rec.name_end] {
            self.chunks.extend_from_slice(&v.to_le_bytes());
        }
        self.chunks.extend_from_slice(&scale.to_le_bytes());
        self.count += 1;
    }

    /// The three files' bytes: vectors, chunk records, doc offsets.
    fn encode(self, doc_count: usize) -> [Vec<u8>; 3] {
        // A doc's chunks start at its own first chunk, or (without chunks) at the next doc's.
        let mut docs = Vec::with_capacity((doc_count + 1) * 4);
        let mut i = 0;
        for doc in 0..=doc_count as u32 {
            while i < self.doc_firsts.len() && self.doc_firsts[i].0 < doc {
                i += 1;
            }
            let start = self.doc_firsts.get(i).map_or(self.count, |&(_, f)| f);
            docs.extend_from_slice(&start.to_le_bytes());
        }
        let vectors = self.vectors.iter().map(|&q| q as u8).collect();
        [vectors, self.chunks, docs]
    }

    /// Writes the three files with `write` (which syncs them).
    pub fn finish(
        self,
        doc_count: usize,
        write: &dyn Fn(&Path, &[u8]) -> Result<()>,
        dir: &Path,
    ) -> Result<()> {
        let [vectors, chunks, docs] = self.encode(doc_count);
        write(&dir.join(VECTORS_FILE), &vectors)?;
        write(&dir.join(CHUNKS_FILE), &chunks)?;
        write(&dir.join(DOCS_FILE), &docs)?;
        Ok(())
    }

    /// The store these chunks make, in memory (benchmarks and tests).
    pub fn into_memory_store(self, doc_count: usize) -> Result<EmbeddingStore<Vec<u8>>> {
        let dims = self.dims;
        let [vectors, chunks, docs] = self.encode(doc_count);
        EmbeddingStore::new(
            vectors,
            chunks,
            docs,
            dims,
            doc_count,
            Path::new("(memory)"),
        )
    }
}

/// A chunk's place in the bundle, as the indexer hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub doc: u32,
    pub start: u32,
    pub end: u32,
    pub name_start: u32,
    pub name_end: u32,
}

/// Read side of the stored embeddings.
pub struct EmbeddingStore<B> {
    vectors: B,
    chunks: B,
    docs: B,
    dims: usize,
    count: usize,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

impl<B: Deref<Target = [u8]>> EmbeddingStore<B> {
    /// Checks sizes against `dims` and `doc_count`.
    pub fn new(
        vectors: B,
        chunks: B,
        docs: B,
        dims: usize,
        doc_count: usize,
        dir: &Path,
    ) -> Result<Self> {
        let corrupt = |f: &str, why: String| Error::corrupt(dir.join(f), why);
        if dims == 0 || !chunks.len().is_multiple_of(CHUNK_RECORD_BYTES) {
            return Err(corrupt(
                CHUNKS_FILE,
                "size is not a whole number of records".into(),
            ));
        }
        let count = chunks.len() / CHUNK_RECORD_BYTES;
        if vectors.len() != count * dims {
            return Err(corrupt(
                VECTORS_FILE,
                format!("holds {} bytes, expected {count} × {dims}", vectors.len()),
            ));
        }
        if docs.len() != (doc_count + 1) * 4 {
            return Err(corrupt(
                DOCS_FILE,
                format!("expected {} doc offsets", doc_count + 1),
            ));
        }
        let mut prev = 0;
        for d in 0..=doc_count {
            let v = u32_at(&docs, d * 4);
            if v < prev || v as usize > count {
                return Err(corrupt(
                    DOCS_FILE,
                    format!("offset of doc {d} out of order"),
                ));
            }
            prev = v;
        }
        for c in 0..count {
            let doc = u32_at(&chunks, c * CHUNK_RECORD_BYTES);
            if doc as usize >= doc_count {
                return Err(corrupt(CHUNKS_FILE, format!("chunk {c} names doc {doc}")));
            }
        }
        Ok(EmbeddingStore {
            vectors,
            chunks,
            docs,
            dims,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn chunk(&self, id: u32) -> ChunkRecord {
        let o = id as usize * CHUNK_RECORD_BYTES;
        let c = &self.chunks[o..o + CHUNK_RECORD_BYTES];
        ChunkRecord {
            doc: u32_at(c, 0),
            start: u32_at(c, 4),
            end: u32_at(c, 8),
            name_start: u32_at(c, 12),
            name_end: u32_at(c, 16),
            scale: f32::from_le_bytes(c[20..24].try_into().expect("4 bytes")),
        }
    }

    /// Chunk ids of one doc.
    pub fn doc_chunks(&self, doc: u32) -> Range<u32> {
        let i = doc as usize * 4;
        if i + 8 > self.docs.len() {
            return 0..0;
        }
        u32_at(&self.docs, i)..u32_at(&self.docs, i + 4)
    }

    /// Cosine of the query with chunk `id` (stored vectors are unit length before quantising).
    pub fn cosine(&self, id: u32, query: &QueryVector) -> f32 {
        let o = id as usize * self.dims;
        let row = &self.vectors[o..o + self.dims];
        // Integer products vectorise; the two scales restore the magnitude.
        let dot: i32 = row
            .iter()
            .zip(&query.quantised)
            .map(|(&a, &b)| i32::from(a as i8) * i32::from(b))
            .sum();
        dot as f32 * query.scale * self.chunk(id).scale
    }

    /// The `k` chunks nearest to the query by cosine, best first. Exact over the stored
    /// vectors; ties by chunk id.
    pub fn nearest(&self, query: &QueryVector, k: usize) -> Vec<(u32, f32)>
    where
        B: Sync,
    {
        if k == 0 || self.count == 0 || query.quantised.len() != self.dims {
            return Vec::new();
        }
        let blocks: Vec<Vec<(u32, f32)>> = (0..self.count.div_ceil(SCAN_BLOCK))
            .into_par_iter()
            .map(|b| {
                let ids = (b * SCAN_BLOCK) as u32..((b + 1) * SCAN_BLOCK).min(self.count) as u32;
                let mut top: Vec<(u32, f32)> = ids.map(|id| (id, self.cosine(id, query))).collect();
                best_first(&mut top, k);
                top
            })
            .collect();
        let mut all: Vec<(u32, f32)> = blocks.into_iter().flatten().collect();
        best_first(&mut all, k);
        all
    }
}

/// A query embedding quantised like the stored vectors (int8, one scale), so that scoring a
/// chunk is an integer dot product.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryVector {
    quantised: Vec<i8>,
    scale: f32,
}

impl QueryVector {
    pub fn new(v: &[f32]) -> QueryVector {
        let (quantised, scale) = quantise(v);
        QueryVector { quantised, scale }
    }
}

/// Symmetric int8 quantisation with one scale: `x ≈ scale × q`.
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

/// Sorts best first (ties by id) and keeps `k`.
fn best_first(v: &mut Vec<(u32, f32)>, k: usize) {
    let by = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if v.len() > k {
        v.select_nth_unstable_by(k - 1, by);
        v.truncate(k);
    }
    v.sort_by(by);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn span(doc: u32) -> ChunkSpan {
        ChunkSpan {
            doc,
            start: 0,
            end: 1,
            name_start: 0,
            name_end: 1,
        }
    }

    fn store(vectors: &[(u32, Vec<f32>)], docs: usize) -> EmbeddingStore<Vec<u8>> {
        let mut w = EmbeddingWriter::new(vectors[0].1.len());
        for (doc, v) in vectors {
            w.push(span(*doc), v);
        }
        w.into_memory_store(docs).unwrap()
    }

    #[test]
    fn nearest_equals_brute_force_over_quantised_vectors() {
        // Deterministic pseudo-random unit vectors, several chunks per doc, docs with none.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let dims = 24;
        let mut vecs = Vec::new();
        for doc in 0..300u32 {
            for _ in 0..(doc % 4) {
                let v: Vec<f32> = (0..dims).map(|_| rnd()).collect();
                vecs.push((doc, unit(&v)));
            }
        }
        let s = store(&vecs, 301);
        assert_eq!(s.len(), vecs.len());
        let qf = unit(&(0..dims).map(|_| rnd()).collect::<Vec<_>>());
        let q = QueryVector::new(&qf);
        let got = s.nearest(&q, 10);
        let mut want: Vec<(u32, f32)> = (0..s.len() as u32)
            .map(|id| (id, s.cosine(id, &q)))
            .collect();
        best_first(&mut want, 10);
        assert_eq!(got, want);
        // Quantisation error stays small against the float vectors.
        for &(id, cos) in &got {
            let exact: f32 = vecs[id as usize]
                .1
                .iter()
                .zip(&qf)
                .map(|(a, b)| a * b)
                .sum();
            assert!((exact - cos).abs() < 0.02, "{exact} vs {cos}");
        }
        // Doc ranges: doc d has d % 4 chunks, all of that doc.
        for doc in 0..301u32 {
            let r = s.doc_chunks(doc);
            assert_eq!(r.len() as u32, if doc == 300 { 0 } else { doc % 4 });
            assert!(r.clone().all(|id| s.chunk(id).doc == doc));
        }
    }

    #[test]
    fn truncated_files_are_refused() {
        let s = store(&[(0, unit(&[1.0, 2.0])), (1, unit(&[2.0, 1.0]))], 2);
        let v = s.vectors.clone();
        let err = EmbeddingStore::new(
            v[..3].to_vec(),
            s.chunks.clone(),
            s.docs.clone(),
            2,
            2,
            Path::new("b"),
        );
        assert!(err.is_err());
        let err = EmbeddingStore::new(v, s.chunks.clone(), s.docs.clone(), 2, 5, Path::new("b"));
        assert!(err.is_err());
    }
}
