//! What a GraphQL request costs, by the documented rule (`docs/security.md`, "Cost"): one per
//! field; a field that takes `first` times its page size (its default when omitted); any
//! other list field times [`UNPAGED_LIST`] — except the `edges` of a page, already counted by
//! its `first`. A list of scalars costs its size, a list of objects one plus its size times
//! its selection. Introspection costs one per field: its size is the schema's, and its shape
//! is limited by its own rule (`limits`).

use crate::transport::graphql::limits::UNPAGED_LIST;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{Value, Variables};
use std::collections::HashSet;

/// Largest page size counted (the resolvers refuse larger ones anyway).
const MAX_PAGE: usize = 10_000;

struct Costing<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    walking: HashSet<&'a str>,
}

/// The cost of the costliest operation of `document`.
pub fn cost(registry: &Registry, document: &ExecutableDocument, variables: &Variables) -> usize {
    let mut costing = Costing {
        registry,
        document,
        variables,
        walking: HashSet::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| {
            let root = match op.node.ty {
                async_graphql::parser::types::OperationType::Query => registry.query_type.as_str(),
                async_graphql::parser::types::OperationType::Mutation => {
                    registry.mutation_type.as_deref().unwrap_or_default()
                }
                async_graphql::parser::types::OperationType::Subscription => {
                    registry.subscription_type.as_deref().unwrap_or_default()
                }
            };
            costing.set(&op.node.selection_set.node, root, false)
        })
        .max()
        .unwrap_or(0)
}

impl<'a> Costing<'a> {
    fn page_size(value: &Value) -> Option<usize> {
        match value {
            Value::Number(n) => n.as_u64().map(|n| (n as usize).min(MAX_PAGE)),
            _ => None,
        }
    }

    fn set(&mut self, set: &'a SelectionSet, parent: &str, in_page: bool) -> usize {
        let mut total = 0usize;
        for selection in &set.items {
            let cost = match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let children = &field.node.selection_set.node;
                    if name.starts_with("__") {
                        // Introspection (and `__typename`): one per field.
                        1 + introspection_fields(children)
                    } else {
                        let meta = self
                            .registry
                            .types
                            .get(parent)
                            .and_then(|t| t.field_by_name(name));
                        match meta {
                            // Not in the schema: validation refuses it.
                            None => 1,
                            Some(meta) => {
                                let takes_first = meta.args.contains_key("first");
                                let given = field
                                    .node
                                    .arguments
                                    .iter()
                                    .find(|(n, _)| n.node == "first")
                                    .and_then(|(_, v)| {
                                        let variables = self.variables;
                                        v.node
                                            .clone()
                                            .into_const_with(|name| {
                                                variables.get(&name).cloned().ok_or(())
                                            })
                                            .ok()
                                    })
                                    .and_then(|v| Self::page_size(&v));
                                let default = meta
                                    .args
                                    .get("first")
                                    .and_then(|a| a.default_value.as_deref())
                                    .and_then(|d| d.parse::<usize>().ok());
                                let list = MetaTypeName::create(&meta.ty).is_list();
                                let size = if takes_first {
                                    given.or(default).unwrap_or(UNPAGED_LIST)
                                } else if list && !(in_page && name == "edges") {
                                    UNPAGED_LIST
                                } else {
                                    1
                                };
                                let child_type = MetaTypeName::concrete_typename(&meta.ty);
                                let inner = self.set(children, child_type, takes_first);
                                if children.items.is_empty() {
                                    size
                                } else {
                                    1usize.saturating_add(size.saturating_mul(inner))
                                }
                            }
                        }
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    self.set(&fragment.node.selection_set.node, on, in_page)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.document.fragments.get(name) {
                        Some(fragment) if self.walking.insert(name) => {
                            let on = fragment.node.type_condition.node.on.node.as_str();
                            let cost = self.set(&fragment.node.selection_set.node, on, in_page);
                            self.walking.remove(name);
                            cost
                        }
                        _ => 0,
                    }
                }
            };
            total = total.saturating_add(cost);
        }
        total
    }
}

/// Fields in an introspection selection, one each (fragments' own fields not followed: the
/// introspection rule bounds their shape).
fn introspection_fields(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => 1 + introspection_fields(&f.node.selection_set.node),
            Selection::InlineFragment(f) => introspection_fields(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 1,
        })
        .sum()
}
