//! Persisted and cached documents. Apollo's automatic persisted queries: a request may carry
//! `extensions.persistedQuery { version: 1, sha256Hash }` instead of its text; a hash podium
//! does not know is answered `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text with
//! the hash once, which podium checks and keeps. And a cache of parsed documents, so a hot
//! query (a leaderboard every spectator's page asks for) is parsed once, not per request.

use crate::cache::Recent;
use crate::transport::graphql::limits::coded;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult, Variables};
use std::sync::Arc;

/// Persisted queries kept (each at most `graphql_max_query_bytes`).
const PERSISTED: usize = 2_000;
/// Parsed documents kept.
const PARSED: usize = 500;

/// The text of persisted queries by their SHA-256 (lower-case hex).
#[derive(Clone)]
pub struct PersistedQueries {
    texts: Recent<String, Arc<str>>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self {
            texts: Recent::new(PERSISTED),
        }
    }
}

impl ExtensionFactory for PersistedQueries {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

fn bad_request(message: &str) -> async_graphql::ServerError {
    coded(message.to_owned(), "BAD_REQUEST")
}

impl PersistedQueries {
    /// Puts the text of a persisted query in `request` (or keeps the text it brings, once its
    /// hash is checked); a request without `extensions.persistedQuery` is left as it is.
    pub fn resolve(&self, request: &mut Request) -> ServerResult<()> {
        let Some(persisted) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let persisted = persisted
            .clone()
            .into_json()
            .map_err(|_| bad_request("extensions.persistedQuery must be an object"))?;
        if persisted["version"] != 1 {
            return Err(bad_request(
                "extensions.persistedQuery.version: only version 1 is supported",
            ));
        }
        let hash = persisted["sha256Hash"]
            .as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                bad_request("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
            })?
            .to_ascii_lowercase();
        if request.query.is_empty() {
            let text = self.texts.get(&hash).ok_or_else(|| {
                coded(
                    "PersistedQueryNotFound".to_owned(),
                    "PERSISTED_QUERY_NOT_FOUND",
                )
            })?;
            request.query = text.to_string();
        } else {
            use sha2::Digest;
            let actual = hex::encode(sha2::Sha256::digest(request.query.as_bytes()));
            if actual != hash {
                return Err(coded(
                    "provided sha does not match query".to_owned(),
                    "PERSISTED_QUERY_HASH_MISMATCH",
                ));
            }
            self.texts.put(hash, request.query.as_str().into());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Extension for PersistedQueries {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.resolve(&mut request)?;
        next.run(ctx, request).await
    }
}

/// Parsed documents by their text (registered last, so it stands in for the parser only:
/// the limits and the cost charge still see every document).
#[derive(Clone)]
pub struct ParsedDocuments {
    parsed: Recent<Arc<str>, ExecutableDocument>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self {
            parsed: Recent::new(PARSED),
        }
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for ParsedDocuments {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let key: Arc<str> = query.into();
        if let Some(document) = self.parsed.get(&key) {
            return Ok(document);
        }
        let document = next.run(ctx, query, variables).await?;
        self.parsed.put(key, document.clone());
        Ok(document)
    }
}
