//! Turns an n-gram query into candidate documents, choosing between posting
//! lists and a full scan by estimated cost.

use crate::bundle::BundleReader;
use crate::error::Result;
use crate::limits::SCAN_CANDIDATE_SHARE;
use crate::ngram::set_ops::{intersect, union};
use crate::plan::CandidatePolicy;
use crate::query::NgramQuery;

/// How candidates were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Posting lists narrowed the candidates.
    Index,
    /// Every document is verified (the plan was not selective).
    Scan,
    /// The plan proved that nothing can match.
    Empty,
}

/// Candidate documents in increasing id order (= static rank order).
#[derive(Debug)]
pub struct Candidates {
    pub strategy: Strategy,
    pub docs: Option<Vec<u32>>,
    /// Upper bound on candidates estimated from document counts alone.
    pub estimate: usize,
    pub postings_decoded: usize,
}

impl Candidates {
    pub fn len(&self, total: usize) -> usize {
        self.docs.as_ref().map_or(total, Vec::len)
    }
}

/// Lists bigger than this multiple of the running intersection are left to verification.
const SKIP_LIST_RATIO: usize = 1000;

pub fn find(bundle: &BundleReader, q: &NgramQuery, policy: CandidatePolicy) -> Result<Candidates> {
    let total = bundle.doc_count();
    let estimate = estimate(bundle, q, total);
    if matches!(q, NgramQuery::None) || estimate == 0 {
        return Ok(Candidates { strategy: Strategy::Empty, docs: Some(Vec::new()), estimate: 0, postings_decoded: 0 });
    }
    let too_many = policy == CandidatePolicy::CostBased && estimate as f64 > SCAN_CANDIDATE_SHARE * total as f64;
    if matches!(q, NgramQuery::All) || too_many {
        return Ok(Candidates { strategy: Strategy::Scan, docs: None, estimate, postings_decoded: 0 });
    }
    let mut decoded = 0usize;
    let docs = eval(bundle, q, total, &mut decoded)?;
    let docs = docs.unwrap_or_else(|| (0..total as u32).collect());
    Ok(Candidates { strategy: Strategy::Index, docs: Some(docs), estimate, postings_decoded: decoded })
}

fn estimate(bundle: &BundleReader, q: &NgramQuery, total: usize) -> usize {
    match q {
        NgramQuery::All => total,
        NgramQuery::None => 0,
        NgramQuery::Trigram(t) => bundle.ngram_entry(*t).map_or(0, |e| e.count as usize),
        NgramQuery::And(v) => v.iter().map(|x| estimate(bundle, x, total)).min().unwrap_or(total),
        NgramQuery::Or(v) => v.iter().map(|x| estimate(bundle, x, total)).sum::<usize>().min(total),
    }
}

/// `None` means every document.
fn eval(bundle: &BundleReader, q: &NgramQuery, total: usize, decoded: &mut usize) -> Result<Option<Vec<u32>>> {
    Ok(match q {
        NgramQuery::All => None,
        NgramQuery::None => Some(Vec::new()),
        NgramQuery::Trigram(t) => {
            let mut out = Vec::new();
            if let Some(e) = bundle.ngram_entry(*t) {
                bundle.decode(&e, &mut out)?;
                *decoded += out.len();
            }
            Some(out)
        }
        NgramQuery::Or(v) => {
            let mut acc: Vec<u32> = Vec::new();
            for x in v {
                match eval(bundle, x, total, decoded)? {
                    None => return Ok(None),
                    Some(d) => acc = union(&acc, &d),
                }
            }
            Some(acc)
        }
        NgramQuery::And(v) => {
            // Cheapest first; stop once the remaining lists cost more to decode
            // than verifying the survivors does.
            let mut parts: Vec<(usize, &NgramQuery)> = v.iter().map(|x| (estimate(bundle, x, total), x)).collect();
            parts.sort_by_key(|&(n, _)| n);
            let mut acc: Option<Vec<u32>> = None;
            for (est, x) in parts {
                if let Some(a) = &acc {
                    if a.is_empty() || est > a.len().saturating_mul(SKIP_LIST_RATIO) {
                        break;
                    }
                }
                match eval(bundle, x, total, decoded)? {
                    None => {}
                    Some(d) => acc = Some(match acc { None => d, Some(a) => intersect(&a, &d) }),
                }
            }
            acc
        }
    })
}
