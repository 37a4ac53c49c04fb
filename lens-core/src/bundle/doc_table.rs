//! The doc table: one fixed-width record per indexed file plus a path blob.
//!
//! Layout: magic `LNSDOCS1`, doc count u64, then `count` records of 40 bytes
//! (content offset u64, content length u64, path offset u64 into the blob,
//! path length u32, repo index u16, language index u16, static rank f32, reserved u32),
//! then the path blob. Doc ids are record indices, assigned in static-rank order.

use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"LNSDOCS1";
pub const RECORD_BYTES: usize = 40;
const HEADER_BYTES: usize = 16;

/// One document's metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocRecord {
    pub content_offset: u64,
    pub content_len: u64,
    pub path_offset: u64,
    pub path_len: u32,
    pub repo: u16,
    pub lang: u16,
    pub static_rank: f32,
}

/// Serialises records and paths.
pub fn encode(records: &[DocRecord], paths: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + records.len() * RECORD_BYTES + paths.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.content_offset.to_le_bytes());
        out.extend_from_slice(&r.content_len.to_le_bytes());
        out.extend_from_slice(&r.path_offset.to_le_bytes());
        out.extend_from_slice(&r.path_len.to_le_bytes());
        out.extend_from_slice(&r.repo.to_le_bytes());
        out.extend_from_slice(&r.lang.to_le_bytes());
        out.extend_from_slice(&r.static_rank.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out.extend_from_slice(paths);
    out
}

/// A validated view over the memory-mapped doc table.
#[derive(Debug, Clone, Copy)]
pub struct DocTableView<'a> {
    records: &'a [u8],
    paths: &'a [u8],
    count: usize,
}

impl<'a> DocTableView<'a> {
    /// Checks the header and every record's bounds against the content length.
    pub fn parse(bytes: &'a [u8], content_len: u64, file: &std::path::Path) -> Result<Self> {
        if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
            return Err(Error::corrupt(file, "bad doc table header"));
        }
        let count = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let rec_end = count
            .checked_mul(RECORD_BYTES)
            .and_then(|n| n.checked_add(HEADER_BYTES))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| Error::corrupt(file, "doc count exceeds file size"))?;
        let view = DocTableView {
            records: &bytes[HEADER_BYTES..rec_end],
            paths: &bytes[rec_end..],
            count,
        };
        for i in 0..count {
            let r = view.get(i as u32);
            let content_ok = r
                .content_offset
                .checked_add(r.content_len)
                .is_some_and(|e| e <= content_len);
            let path_ok = r
                .path_offset
                .checked_add(r.path_len as u64)
                .is_some_and(|e| e <= view.paths.len() as u64);
            if !content_ok || !path_ok {
                return Err(Error::corrupt(file, format!("record {i} out of bounds")));
            }
        }
        Ok(view)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[inline]
    pub fn get(&self, doc: u32) -> DocRecord {
        let at = doc as usize * RECORD_BYTES;
        let b = &self.records[at..at + RECORD_BYTES];
        DocRecord {
            content_offset: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            content_len: u64::from_le_bytes(b[8..16].try_into().unwrap()),
            path_offset: u64::from_le_bytes(b[16..24].try_into().unwrap()),
            path_len: u32::from_le_bytes(b[24..28].try_into().unwrap()),
            repo: u16::from_le_bytes(b[28..30].try_into().unwrap()),
            lang: u16::from_le_bytes(b[30..32].try_into().unwrap()),
            static_rank: f32::from_le_bytes(b[32..36].try_into().unwrap()),
        }
    }

    /// Raw path bytes of a record (UTF-8 in practice; lossy elsewhere).
    #[inline]
    pub fn path_bytes(&self, r: &DocRecord) -> &'a [u8] {
        &self.paths[r.path_offset as usize..(r.path_offset + r.path_len as u64) as usize]
    }
}

impl<'a> DocTableView<'a> {
    /// A view over a table already validated by [`DocTableView::parse`].
    #[inline]
    pub fn parse_unchecked(bytes: &'a [u8]) -> Self {
        let count = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let rec_end = HEADER_BYTES + count * RECORD_BYTES;
        DocTableView {
            records: &bytes[HEADER_BYTES..rec_end],
            paths: &bytes[rec_end..],
            count,
        }
    }
}
