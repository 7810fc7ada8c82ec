//! Request-shape limits async-graphql does not have built in: query size, aliases and field
//! selections per document (alias overloading and field duplication). Depth, complexity and
//! directives per field are the schema builder's own limits (`graphql::build_schema`).

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, Variables};
use std::sync::Arc;

/// The limits, from settings.
#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    pub max_fields: usize,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn refused(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "QUERY_TOO_LARGE");
    error.extensions = Some(extensions);
    error
}

/// Aliases and field selections in a selection set, fragments' own sets counted once each.
fn count(set: &SelectionSet, aliases: &mut usize, fields: &mut usize) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                *fields += 1;
                *aliases += usize::from(field.node.alias.is_some());
                count(&field.node.selection_set.node, aliases, fields);
            }
            Selection::InlineFragment(fragment) => {
                count(&fragment.node.selection_set.node, aliases, fields)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    /// Every error leaves with an `extensions.code`: ours carry one; the engine's own (parse,
    /// validation, limits, input coercion) get `GRAPHQL_VALIDATION_FAILED` when nothing ran and
    /// `BAD_USER_INPUT` otherwise.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let fallback = if response.data == async_graphql::Value::Null {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "BAD_USER_INPUT"
        };
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", fallback);
            }
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > self.max_query_bytes {
            return Err(refused(format!(
                "query is {} bytes; the limit is {}",
                query.len(),
                self.max_query_bytes
            )));
        }
        let document = next.run(ctx, query, variables).await?;
        let (mut aliases, mut fields) = (0, 0);
        for (_, operation) in document.operations.iter() {
            count(
                &operation.node.selection_set.node,
                &mut aliases,
                &mut fields,
            );
        }
        for fragment in document.fragments.values() {
            count(&fragment.node.selection_set.node, &mut aliases, &mut fields);
        }
        if aliases > self.max_aliases {
            return Err(refused(format!(
                "query uses {aliases} aliases; the limit is {}",
                self.max_aliases
            )));
        }
        if fields > self.max_fields {
            return Err(refused(format!(
                "query selects {fields} fields; the limit is {}",
                self.max_fields
            )));
        }
        Ok(document)
    }
}
