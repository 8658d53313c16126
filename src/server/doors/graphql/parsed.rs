//! Documents parsed once. A script sends the same few queries again and again; parsing one
//! (async-graphql's PEG parser) was the largest cost of a small query that a bearer request
//! pays and a static query does not (a profile of the docs query: a tenth of its CPU time in
//! the parser's string matching). A query text seen before is answered with a copy of its
//! document; a new one is parsed and kept. Only documents that passed the document's limits
//! are kept, each at most [`MAX_QUERY_BYTES`] of text, at most [`MAX_DOCUMENTS`] of them and
//! [`MAX_KEPT_BYTES`] of text in all (a document takes some twenty times its text); a full
//! map starts again, so memory stays bounded and a client sending ever new queries costs no
//! more than parsing them did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;

/// The most documents kept, the longest query text kept, and the most text kept in all
/// (some 20 MB of documents at most).
const MAX_DOCUMENTS: usize = 1024;
const MAX_QUERY_BYTES: usize = 8 * 1024;
const MAX_KEPT_BYTES: usize = 1024 * 1024;

#[derive(Default)]
pub struct Parsed {
    documents: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_query: HashMap<Box<str>, Arc<ExecutableDocument>>,
    /// The length of all the query texts in `by_query`.
    bytes: usize,
}

impl Parsed {
    /// The document of `query`, if it was parsed (and accepted) before.
    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let kept = lock(&self.documents).by_query.get(query).cloned()?;
        Some(ExecutableDocument::clone(&kept))
    }

    /// Keeps `document`, parsed from `query` and accepted.
    pub fn keep(&self, query: &str, document: &ExecutableDocument) {
        if query.len() > MAX_QUERY_BYTES {
            return;
        }
        let document = Arc::new(document.clone());
        let mut kept = lock(&self.documents);
        if kept.by_query.len() >= MAX_DOCUMENTS || kept.bytes + query.len() > MAX_KEPT_BYTES {
            *kept = Kept::default();
        }
        if kept.by_query.insert(query.into(), document).is_none() {
            kept.bytes += query.len();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    #[test]
    fn a_document_kept_is_given_back_and_the_map_stays_bounded() {
        let parsed = Parsed::default();
        let query = "{ user { id } }";
        assert!(parsed.get(query).is_none());
        parsed.keep(query, &parse(query));
        let again = parsed.get(query).expect("kept");
        assert_eq!(again.operations.iter().count(), 1);
        assert!(parsed.get("{ user { name } }").is_none(), "another text is another document");

        let long = format!("{{ user {{ id }} }}{}", " ".repeat(MAX_QUERY_BYTES));
        parsed.keep(&long, &parse(&long));
        assert!(parsed.get(&long).is_none(), "a long query is parsed each time, never kept");

        for n in 0..MAX_DOCUMENTS + 10 {
            let query = format!("{{ a{n}: user {{ id }} }}");
            parsed.keep(&query, &parse(&query));
        }
        assert!(lock(&parsed.documents).by_query.len() <= MAX_DOCUMENTS);

        let padding = " ".repeat(MAX_QUERY_BYTES - 100);
        for n in 0..2 * MAX_KEPT_BYTES / MAX_QUERY_BYTES {
            let query = format!("{{ a{n}: user {{ id }} }}{padding}");
            parsed.keep(&query, &parse(&query));
            let kept = lock(&parsed.documents);
            assert!(kept.bytes <= MAX_KEPT_BYTES, "{} bytes of text kept", kept.bytes);
            assert_eq!(kept.bytes, kept.by_query.keys().map(|query| query.len()).sum::<usize>());
        }
    }
}
