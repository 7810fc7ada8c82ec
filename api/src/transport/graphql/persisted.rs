//! Persisted and cached documents. Apollo's automatic persisted queries: a request may carry
//! `extensions.persistedQuery { version: 1, sha256Hash }` instead of its text; a hash podium
//! does not know is answered `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text with
//! the hash once, which podium checks and keeps. And a cache of parsed and validated documents,
//! so a hot query (a leaderboard every spectator's page asks for) is parsed and validated once,
//! not per request.

use crate::cache::Recent;
use crate::transport::graphql::limits::coded;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult, ValidationResult, Variables};
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

/// Parsed documents by their text, and validation outcomes by text, operation and variables
/// (registered last, so it stands in for the parser and the validator alone: the shape limits
/// and the cost charge still see every request). A validation depends only on the schema, the
/// document, the operation chosen and the variables, so the same three validate the same way;
/// only documents that validated are kept.
#[derive(Clone)]
pub struct ParsedDocuments {
    parsed: Recent<Arc<str>, ExecutableDocument>,
    validated: Recent<ValidationKey, ValidationResult>,
}

/// The query text, the operation name and the variables as JSON.
type ValidationKey = (Arc<str>, Option<String>, String);

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self {
            parsed: Recent::new(PARSED),
            validated: Recent::new(PARSED),
        }
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentsOfRequest {
            documents: self.clone(),
            key: std::sync::Mutex::new(None),
        })
    }
}

/// The cache as one request uses it: the request's validation key, taken when it is prepared.
struct DocumentsOfRequest {
    documents: ParsedDocuments,
    key: std::sync::Mutex<Option<ValidationKey>>,
}

#[async_trait::async_trait]
impl Extension for DocumentsOfRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let variables = serde_json::to_string(&request.variables).ok();
        *self.key.lock().unwrap_or_else(|e| e.into_inner()) = variables.map(|variables| {
            (
                request.query.as_str().into(),
                request.operation_name.clone(),
                variables,
            )
        });
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let key: Arc<str> = query.into();
        if let Some(document) = self.documents.parsed.get(&key) {
            return Ok(document);
        }
        let document = next.run(ctx, query, variables).await?;
        self.documents.parsed.put(key, document.clone());
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<async_graphql::ServerError>> {
        let key = self.key.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(validated) = key.as_ref().and_then(|k| self.documents.validated.get(k)) {
            return Ok(validated);
        }
        let validated = next.run(ctx).await?;
        if let Some(key) = key {
            self.documents.validated.put(key, validated);
        }
        Ok(validated)
    }
}
