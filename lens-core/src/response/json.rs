//! The JSON of a response, for every caller. Field names are the ones the
//! README documents; keys come in alphabetical order. Stats carry one record
//! of truncation; `truncated`, `timed_out` and `early_terminated` are derived
//! from it here.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value, json};

use super::{Response, StageStats, Stats};
use crate::search::{Hit, SearchStats, Truncation};
use crate::semantic::SemanticStats;
use crate::symbols::query::SymbolStats;

const NO_LINES: &[String] = &[];

impl Serialize for Hit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let site = self.definition_site.as_deref();
        let mut st = s.serialize_struct("Hit", 21)?;
        st.serialize_field("abs_end", &self.abs_end)?;
        st.serialize_field("abs_start", &self.abs_start)?;
        let (before, after) = match self.context.as_deref() {
            Some(c) => (c.before.as_slice(), c.after.as_slice()),
            None => (NO_LINES, NO_LINES),
        };
        st.serialize_field("context_after", after)?;
        st.serialize_field("context_before", before)?;
        match site {
            Some(d) => {
                st.serialize_field("def_end", &d.def_end)?;
                st.serialize_field("def_start", &d.def_start)?;
            }
            None => {
                st.skip_field("def_end")?;
                st.skip_field("def_start")?;
            }
        }
        st.serialize_field("definition", &self.definition)?;
        st.serialize_field("end", &self.end)?;
        match site {
            Some(d) => st.serialize_field("kind", &d.kind)?,
            None => st.skip_field("kind")?,
        }
        st.serialize_field("language", &*self.language)?;
        st.serialize_field("line", &self.line)?;
        match site {
            Some(d) => st.serialize_field("name", &d.name)?,
            None => st.skip_field("name")?,
        }
        st.serialize_field("path", &*self.path)?;
        st.serialize_field("repo", &*self.repo)?;
        match site.and_then(|d| d.scope.as_deref()) {
            Some(scope) => st.serialize_field("scope", scope)?,
            None => st.skip_field("scope")?,
        }
        // f32 widened, so that scores print as they always have.
        st.serialize_field("score", &f64::from(self.score))?;
        match &self.signals {
            Some(sig) => st.serialize_field("signals", sig)?,
            None => st.skip_field("signals")?,
        }
        st.serialize_field("snippet", &*self.snippet)?;
        st.serialize_field("start", &self.start)?;
        st.serialize_field("symbol", &self.symbol)?;
        match site {
            Some(_) => st.serialize_field("type", "symbol")?,
            None => st.skip_field("type")?,
        }
        st.end()
    }
}

/// The fields every kind of stats derives from its truncation.
fn truncation_fields(m: &mut Map<String, Value>, t: Option<Truncation>) {
    m.insert("truncation".into(), json!(t));
    m.insert("truncated".into(), json!(t.is_some()));
    m.insert("timed_out".into(), json!(t == Some(Truncation::Deadline)));
}

fn text_stats(s: &SearchStats) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("files_total".into(), json!(s.files_total));
    m.insert("candidates".into(), json!(s.candidates));
    m.insert("candidates_estimate".into(), json!(s.candidates_estimate));
    m.insert("files_considered".into(), json!(s.files_considered));
    m.insert("files_matched".into(), json!(s.files_matched));
    m.insert("matches".into(), json!(s.matches));
    m.insert("results".into(), json!(s.results));
    m.insert("strategy".into(), json!(s.strategy));
    m.insert("ngram_plan".into(), json!(s.ngram_plan));
    m.insert("postings_decoded".into(), json!(s.postings_decoded));
    m.insert("ngram_lists".into(), json!(s.ngram_lists));
    m.insert("early_terminated".into(), json!(s.early_terminated()));
    truncation_fields(&mut m, s.truncation);
    m.insert("elapsed_ms".into(), json!(s.elapsed_ms));
    m.insert("stage_b_ms".into(), json!(s.stage_b_ms));
    m
}

fn symbol_stats(s: &SymbolStats) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("candidates".into(), json!(s.candidates));
    m.insert("matched".into(), json!(s.matched));
    m.insert("results".into(), json!(s.results));
    truncation_fields(&mut m, s.truncation);
    m.insert("elapsed_ms".into(), json!(s.elapsed_ms));
    m
}

fn semantic_stats(s: &SemanticStats) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("files_total".into(), json!(s.files_total));
    m.insert("gate_score".into(), json!(s.gate_score));
    m.insert("lexical_candidates".into(), json!(s.lexical_candidates));
    m.insert("dense_candidates".into(), json!(s.dense_candidates));
    m.insert("scored".into(), json!(s.scored));
    m.insert("cut_off".into(), json!(s.cut_off));
    m.insert("results".into(), json!(s.results));
    m.insert("stage_a_ms".into(), json!(s.stage_a_ms));
    m.insert("stage_b_ms".into(), json!(s.stage_b_ms));
    m.insert("stage_c_ms".into(), json!(s.stage_c_ms));
    m.insert("stage_c".into(), json!(s.stage_c));
    m.insert(
        "query_embedding_cached".into(),
        json!(s.query_embedding_cached),
    );
    truncation_fields(&mut m, s.truncation);
    m.insert("elapsed_ms".into(), json!(s.elapsed_ms));
    m
}

impl Stats {
    /// The stats object: the stage's counters, truncation and the page's place.
    pub fn to_json(&self) -> Value {
        let mut m = match &self.stage {
            StageStats::Text(s) => text_stats(s),
            StageStats::Symbol(s) => symbol_stats(s),
            StageStats::Semantic(s) => semantic_stats(s),
        };
        m.insert("offset".into(), json!(self.offset));
        m.insert("total_results".into(), json!(self.total_results));
        Value::Object(m)
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Response", 5)?;
        st.serialize_field("next_cursor", &self.next_cursor)?;
        match &self.release {
            Some(r) => st.serialize_field("release", r)?,
            None => st.skip_field("release")?,
        }
        st.serialize_field("results", &self.hits)?;
        st.serialize_field("stats", &self.stats)?;
        st.serialize_field("timings", &self.timings)?;
        st.end()
    }
}
