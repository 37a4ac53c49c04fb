//! Criterion micro-benchmarks of Stage-C's model-free parts: the gate (what every ranked
//! query-language search now pays before Stage-A) and the exact nearest-chunk search over
//! int8 embeddings at two corpus sizes.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lens_core::semantic::gate;
use lens_core::semantic::store::{ChunkSpan, EmbeddingStore, EmbeddingWriter, QueryVector};

/// The Linux benchmark's query-language forms and a few prose queries.
const QUERIES: &[&str] = &[
    "kmem_cache_alloc_node",
    "case:yes \"tcp_v4_connect\"",
    "/ext4_\\w+_inode\\(/",
    "spin_lock_irqsave lang:c",
    "fn search",
    "how do I read a file line by line",
    "where are the checksums of a bundle verified",
    "Vec<u8> to String",
];

fn unit_vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dims)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.into_iter().map(|a| a / n).collect()
        })
        .collect()
}

fn store(n: usize, dims: usize) -> EmbeddingStore<Vec<u8>> {
    let mut w = EmbeddingWriter::new(dims);
    for (i, v) in unit_vectors(n, dims, 42).iter().enumerate() {
        let span = ChunkSpan {
            doc: i as u32,
            start: 0,
            end: 1,
            name_start: 0,
            name_end: 1,
        };
        w.push(span, v);
    }
    w.into_memory_store(n).unwrap()
}

fn benches(c: &mut Criterion) {
    c.bench_function("gate/8 queries", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(gate(black_box(q)));
            }
        })
    });
    let query = &QueryVector::new(&unit_vectors(1, 384, 7)[0]);
    for n in [10_000, 100_000] {
        let s = store(n, 384);
        c.bench_function(&format!("nearest/100 of {n} chunks x 384"), |b| {
            b.iter(|| black_box(s.nearest(black_box(query), 100)))
        });
    }
}

criterion_group!(stage_c, benches);
criterion_main!(stage_c);
