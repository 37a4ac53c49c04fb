//! Rebuilds `lens-core/src/ngram/bigram_ranks.bin`, the bigram weights of the
//! sparse n-gram index: the frequency of every case-folded bigram in each
//! corpus, normalised per corpus so that each language counts the same,
//! averaged, then ranked (0 = most frequent; ties by bigram value).
//!
//!     lens-bigram-weights --out lens-core/src/ngram/bigram_ranks.bin \
//!         c=~/corpora/linux-source-6.1 rust=~/.cargo/registry/src ...
//!
//! Changing the table changes every gram: bundles built with another table
//! are searched by trigrams alone until rebuilt (their manifest names it).

use std::path::{Path, PathBuf};

use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    out: PathBuf,
    /// Text files larger than this are left out, as `lens index` leaves them.
    #[arg(long, default_value_t = 1 << 20)]
    max_file: u64,
    /// `name=DIR`, one per language.
    corpora: Vec<String>,
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && e.file_name() != ".git" {
            walk(&e.path(), f);
        } else if ft.is_file() {
            f(&e.path());
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut mean = vec![0f64; 65536];
    for spec in &args.corpora {
        let (name, dir) = spec
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("{spec}: expected name=DIR"))?;
        let mut counts = vec![0u64; 65536];
        let (mut files, mut bytes) = (0u64, 0u64);
        walk(Path::new(dir), &mut |p| {
            let Ok(meta) = std::fs::metadata(p) else {
                return;
            };
            if meta.len() > args.max_file {
                return;
            }
            let Ok(data) = std::fs::read(p) else { return };
            if data.iter().take(8192).any(|&b| b == 0) {
                return;
            }
            files += 1;
            bytes += data.len() as u64;
            for w in data.windows(2) {
                let i = (usize::from(w[0].to_ascii_lowercase()) << 8)
                    | usize::from(w[1].to_ascii_lowercase());
                counts[i] += 1;
            }
        });
        let total: u64 = counts.iter().sum();
        anyhow::ensure!(total > 0, "{name}: no text in {dir}");
        eprintln!("{name}: {files} files, {bytes} bytes");
        for (m, &c) in mean.iter_mut().zip(&counts) {
            *m += c as f64 / total as f64;
        }
    }
    let mut order: Vec<usize> = (0..65536).collect();
    order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]).then(a.cmp(&b)));
    let mut ranks = vec![0u8; 131072];
    for (rank, &i) in order.iter().enumerate() {
        ranks[2 * i..2 * i + 2].copy_from_slice(&(rank as u16).to_le_bytes());
    }
    std::fs::write(&args.out, &ranks)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
