//! Request-shape limits: query size, aliases and field selections per document (alias
//! overloading and field duplication), nesting depth, the shape of introspection and control
//! characters in input text; and the cost charge (`cost`), refused over
//! `graphql_max_complexity`. Directives per field are the schema builder's own limit
//! (`graphql::build_schema`).
//!
//! Depth is counted here rather than by the engine so that introspection can be judged by its
//! own rule: graphql-js's standard introspection query (what GraphiQL and code generators send)
//! nests `ofType` nine levels deep, past any depth limit that protects the API, while the
//! attack it must stop is circular — `fields { type { fields { type { … } } } }`. As graphql-js's
//! `MaxIntrospectionDepthRule` does, a selection may nest the list fields `fields`,
//! `inputFields`, `interfaces` and `possibleTypes` inside one another at most twice (the
//! standard query nests them once), and `ofType` at most [`MAX_OF_TYPE`] times; outside
//! `__schema` and `__type` the depth limit applies as usual.

use crate::auth::Principal;
use crate::limits::{Decision, RateLimits};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use std::sync::{Arc, Mutex};

/// The size assumed for lists without a page size when a query's cost is computed.
pub const UNPAGED_LIST: usize = 20;

/// The limits, from settings.
#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    pub max_fields: usize,
    pub max_depth: usize,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// An engine-level error with a stable `extensions.code`.
pub(crate) fn coded(message: String, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

fn refused(message: String) -> ServerError {
    coded(message, "QUERY_TOO_LARGE")
}

/// Deepest `ofType { ofType { … } }` chain accepted (graphql-js's standard query uses 9).
pub const MAX_OF_TYPE: usize = 12;
/// Introspection list fields nested inside one another at most this often.
const MAX_INTROSPECTION_LISTS: usize = 2;
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];

/// How deep a selection goes, and whether its introspection stays within its rule.
struct Shape<'a> {
    fragments: &'a std::collections::HashMap<
        async_graphql::Name,
        async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
    >,
    /// Fragments being walked (a cycle is refused by validation later; here it just stops).
    walking: Vec<&'a str>,
}

/// Where a walk is inside introspection: list fields and `ofType`s nested so far.
#[derive(Clone, Copy, Default)]
struct Introspection {
    inside: bool,
    lists: usize,
    of_types: usize,
}

impl<'a> Shape<'a> {
    /// The depth of `set` outside introspection; an error for introspection that nests too
    /// deep.
    fn depth(&mut self, set: &'a SelectionSet, at: Introspection) -> Result<usize, String> {
        let mut deepest = 0;
        for selection in &set.items {
            let below = match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let mut inner = at;
                    if name == "__schema" || name == "__type" {
                        inner.inside = true;
                    }
                    if inner.inside {
                        if INTROSPECTION_LISTS.contains(&name) {
                            inner.lists += 1;
                        }
                        if name == "ofType" {
                            inner.of_types += 1;
                        }
                        if inner.lists > MAX_INTROSPECTION_LISTS {
                            return Err(format!(
                                "introspection nests `{name}` {} levels deep inside fields, inputFields, interfaces or possibleTypes; at most {} (circular introspection)",
                                inner.lists, MAX_INTROSPECTION_LISTS
                            ));
                        }
                        if inner.of_types > MAX_OF_TYPE {
                            return Err(format!(
                                "introspection nests `ofType` {} levels deep; at most {MAX_OF_TYPE}",
                                inner.of_types
                            ));
                        }
                    }
                    let nested = self.depth(&field.node.selection_set.node, inner)?;
                    // Introspection does not count towards the depth limit.
                    if inner.inside {
                        0
                    } else {
                        nested + 1
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.depth(&fragment.node.selection_set.node, at)?
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.fragments.get(name) {
                        Some(fragment) if !self.walking.contains(&name) => {
                            self.walking.push(name);
                            let d = self.depth(&fragment.node.selection_set.node, at)?;
                            self.walking.pop();
                            d
                        }
                        _ => 0,
                    }
                }
            };
            deepest = deepest.max(below);
        }
        Ok(deepest)
    }
}

/// The first string in `value` with a control character other than tab or a line break, as
/// `(path, message)`: text from outside never reaches a resolver with one (PostgreSQL cannot
/// store NUL; the others have no business in any field). Fields that must be one line (names)
/// are stricter, in the domain's parsers.
fn control_character(path: &str, value: &async_graphql::Value) -> Option<(String, String)> {
    match value {
        async_graphql::Value::String(s) => podium_domain::check_text(path, s, true)
            .err()
            .map(|e| (e.field, e.message)),
        async_graphql::Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_character(&format!("{path}[{i}]"), v)),
        async_graphql::Value::Object(fields) => fields
            .iter()
            .find_map(|(k, v)| control_character(&format!("{path}.{k}"), v)),
        _ => None,
    }
}

/// The same check over the literal arguments of a selection set.
fn control_character_in_arguments(set: &SelectionSet) -> Option<(String, String)> {
    set.items
        .iter()
        .find_map(|selection| match &selection.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find_map(|(name, value)| {
                    let literal = value.node.clone().into_const_with(|_| {
                        Ok::<_, std::convert::Infallible>(async_graphql::Value::Null)
                    });
                    literal.ok().and_then(|v| {
                        control_character(&format!("{}({})", field.node.name.node, name.node), &v)
                    })
                })
                .or_else(|| control_character_in_arguments(&field.node.selection_set.node)),
            Selection::InlineFragment(fragment) => {
                control_character_in_arguments(&fragment.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => None,
        })
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
        name_span(&document);
        let in_variables = variables
            .iter()
            .find_map(|(name, value)| control_character(&format!("${name}"), value));
        let in_arguments = || {
            document
                .operations
                .iter()
                .find_map(|(_, op)| control_character_in_arguments(&op.node.selection_set.node))
                .or_else(|| {
                    document
                        .fragments
                        .values()
                        .find_map(|f| control_character_in_arguments(&f.node.selection_set.node))
                })
        };
        if let Some((path, message)) = in_variables.or_else(in_arguments) {
            return Err(coded(format!("{path}: {message}"), "BAD_USER_INPUT"));
        }
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
        let mut shape = Shape {
            fragments: &document.fragments,
            walking: Vec::new(),
        };
        for (_, operation) in document.operations.iter() {
            let depth = shape
                .depth(&operation.node.selection_set.node, Introspection::default())
                .map_err(|message| coded(message, "INTROSPECTION_TOO_DEEP"))?;
            if depth > self.max_depth {
                return Err(coded(
                    format!(
                        "query is nested too deep: {depth} levels; the limit is {}",
                        self.max_depth
                    ),
                    "GRAPHQL_VALIDATION_FAILED",
                ));
            }
        }
        Ok(document)
    }
}

/// Who pays for a GraphQL request: attached as request data by each transport. The decision
/// of the charge is left here for the transport's `RateLimit` headers.
#[derive(Clone)]
pub struct Meter {
    limits: RateLimits,
    tier: crate::auth::Tier,
    key: String,
    transport: &'static str,
    decision: Arc<Mutex<Option<Decision>>>,
}

impl Meter {
    pub fn new(limits: &RateLimits, principal: &Principal, peer: Option<std::net::IpAddr>) -> Self {
        Self {
            limits: limits.clone(),
            tier: principal.tier(),
            key: principal.limit_key(peer),
            transport: "http",
            decision: Arc::default(),
        }
    }

    /// The meter of a subscription over a WebSocket.
    pub fn over_websocket(self) -> Self {
        Self {
            transport: "websocket",
            ..self
        }
    }

    pub fn decision(&self) -> Option<Decision> {
        self.decision
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn charge(&self, cost: usize) -> Decision {
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        let decision = self
            .limits
            .charge_over(self.transport, self.tier, &self.key, cost)
            .await;
        *self.decision.lock().unwrap_or_else(|e| e.into_inner()) = Some(decision.clone());
        decision
    }
}

/// The `RATE_LIMITED` error of a refused charge.
pub fn rate_limited(decision: &Decision) -> ServerError {
    let retry = decision.retry_after_secs.unwrap_or(1);
    let mut error = coded(
        format!("rate limit exceeded: {}", decision.explain()),
        "RATE_LIMITED",
    );
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("retryAfterSecs", retry);
    }
    error
}

/// Charges each request its cost (`cost::cost`, at least 1; a request that does not parse or
/// validate costs 1) before anything executes, and refuses one costing more than
/// `graphql_max_complexity`.
#[derive(Debug, Clone, Copy)]
pub struct CostCharge {
    pub max_cost: usize,
}

impl ExtensionFactory for CostCharge {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostChargeRun {
            max_cost: self.max_cost,
            cost: Mutex::new(None),
        })
    }
}

/// One request's charge: its cost is computed from the parsed document and charged once it
/// validates.
struct CostChargeRun {
    max_cost: usize,
    cost: Mutex<Option<usize>>,
}

#[async_trait::async_trait]
impl Extension for CostChargeRun {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let parsed = next.run(ctx, query, variables).await;
        match &parsed {
            Ok(document) => {
                let cost = crate::transport::graphql::cost::cost(
                    &ctx.schema_env.registry,
                    document,
                    variables,
                );
                *self.cost.lock().unwrap_or_else(|e| e.into_inner()) = Some(cost);
            }
            Err(_) => {
                if let Some(meter) = ctx.data_opt::<Meter>() {
                    let decision = meter.charge(1).await;
                    if !decision.allowed() {
                        return Err(rate_limited(&decision));
                    }
                }
            }
        }
        parsed
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        let cost = match &validated {
            Ok(_) => self
                .cost
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or(1)
                .max(1),
            Err(_) => 1,
        };
        let too_costly = validated.is_ok() && cost > self.max_cost;
        if let Some(meter) = ctx.data_opt::<Meter>() {
            // A request refused here costs 1, like any that does not validate.
            let decision = meter.charge(if too_costly { 1 } else { cost }).await;
            if !decision.allowed() {
                return Err(vec![rate_limited(&decision)]);
            }
        }
        if too_costly {
            return Err(vec![coded(
                format!(
                    "query costs {cost}; the limit is {} (list fields cost their page size, \
                     unpaginated lists {UNPAGED_LIST}: ask for fewer rows)",
                    self.max_cost
                ),
                "GRAPHQL_VALIDATION_FAILED",
            )]);
        }
        validated
    }
}

/// Names the request's span (`graphql`, when traced) after the document's operation, when it
/// has only one: its type, and its name if it has one.
fn name_span(document: &ExecutableDocument) {
    let mut operations = document.operations.iter();
    let (Some((name, operation)), None) = (operations.next(), operations.next()) else {
        return;
    };
    let span = tracing::Span::current();
    span.record(
        "graphql.operation.type",
        operation.node.ty.to_string().as_str(),
    );
    if let Some(name) = name {
        crate::telemetry::rename(&span, format!("graphql {name}"));
        span.record("graphql.operation.name", name.as_str());
    }
}
