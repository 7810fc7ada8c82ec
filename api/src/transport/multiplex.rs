//! Shared subscription execution (what Hasura calls multiplexing): the subscriptions of one
//! operation, with the same variables and the same visibility (what the viewer may see), are
//! executed once per step of the change log, and the serialised payload is written to every
//! socket that follows them.
//!
//! A subscription opens on its own (validation, the caller's charge, the snapshot or the
//! `afterSeq` start), then keeps only its change-log cursor: for each step it reaches, it asks
//! its group for the step's payload, which the first subscriber to get there executes and the
//! others wait for and reuse. A subscriber that is behind (resumed with `afterSeq`, or slowed by
//! its socket) reads the same payloads while the group keeps them, and executes a step again
//! only when it is further behind than that.

use crate::auth::Principal;
use crate::metrics::Metrics;
use crate::transport::graphql::subscription::LiveMode;
use crate::transport::graphql::PodiumSchema;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OnceCell;

/// Steps whose payload a group keeps for subscribers that are behind.
const KEPT_STEPS: usize = 64;

/// What a step sends: a payload, or the end of the subscription (the step could not be read).
#[derive(Clone)]
pub enum StepFrame {
    Payload(Arc<str>),
    End,
}

/// What makes two subscriptions share their steps: the operation as sent, its variables, and
/// the viewer's visibility (role, scopes, own athlete).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    query: Arc<str>,
    operation: Option<String>,
    variables: String,
    visibility: String,
}

impl GroupKey {
    pub fn new(
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Value,
        viewer: &Principal,
    ) -> Self {
        Self {
            query: query.into(),
            operation: operation.map(str::to_owned),
            variables: variables.to_string(),
            visibility: viewer.visibility(),
        }
    }

    /// The request of this operation (without the caller's data).
    pub fn request(&self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(&*self.query);
        if let Some(name) = &self.operation {
            request = request.operation_name(name);
        }
        if let Ok(variables) = serde_json::from_str::<serde_json::Value>(&self.variables) {
            if variables.is_object() {
                request = request.variables(async_graphql::Variables::from_json(variables));
            }
        }
        request
    }
}

/// One group's recent steps, by `seq`.
pub struct Group {
    key: GroupKey,
    metrics: Arc<Metrics>,
    steps: Mutex<BTreeMap<i64, Arc<OnceCell<StepFrame>>>>,
}

impl Group {
    /// The payload of step `change` for this group: executed once (by the first subscriber to
    /// ask, as `viewer`, who shares the group's visibility), then reused.
    pub async fn frame(
        &self,
        schema: &PodiumSchema,
        viewer: &Principal,
        mode: LiveMode,
        seq: i64,
    ) -> StepFrame {
        let cell = {
            let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
            let cell = steps.entry(seq).or_default().clone();
            while steps.len() > KEPT_STEPS {
                steps.pop_first();
            }
            cell
        };
        cell.get_or_init(|| async {
            self.metrics.step_executed();
            let step = match &mode {
                LiveMode::Step { change, .. } => Some((change.event_id, change.seq)),
                LiveMode::Opening(_) => None,
            };
            let request = self.key.request().data(viewer.clone()).data(mode);
            let mut responses = schema.execute_stream(request);
            let frame = match responses.next().await {
                Some(response) => match serde_json::to_string(&response) {
                    Ok(text) => StepFrame::Payload(text.into()),
                    Err(e) => {
                        tracing::error!(error = %e, "a subscription step could not be serialised");
                        StepFrame::End
                    }
                },
                None => StepFrame::End,
            };
            if let Some((event, seq)) = step {
                self.metrics.step_ready(event, seq);
            }
            frame
        })
        .await
        .clone()
    }

    /// Steps kept (for tests and metrics).
    pub fn kept(&self) -> usize {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The live groups of an instance; a group goes when its last subscriber does.
#[derive(Clone)]
pub struct Groups {
    groups: Arc<Mutex<HashMap<GroupKey, Weak<Group>>>>,
    metrics: Arc<Metrics>,
}

impl Groups {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            groups: Arc::default(),
            metrics,
        }
    }

    /// The group of `key`, joined or started.
    pub fn join(&self, key: GroupKey) -> Arc<Group> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            return group;
        }
        groups.retain(|_, g| g.strong_count() > 0);
        let group = Arc::new(Group {
            key: key.clone(),
            metrics: self.metrics.clone(),
            steps: Mutex::default(),
        });
        groups.insert(key, Arc::downgrade(&group));
        group
    }

    /// Groups with at least one subscriber.
    pub fn len(&self) -> usize {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.values().filter(|g| g.strong_count() > 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A `next` (graphql-transport-ws) or `data` (legacy) frame around a serialised payload.
pub fn frame_text(id: &str, kind: &str, payload: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    let mut text = String::with_capacity(payload.len() + id.len() + 32);
    text.push_str("{\"id\":");
    text.push_str(&id);
    text.push_str(",\"type\":\"");
    text.push_str(kind);
    text.push_str("\",\"payload\":");
    text.push_str(payload);
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_carries_the_id_escaped_and_the_payload_as_is() {
        let text = frame_text("a\"b", "next", r#"{"data":{"x":1}}"#);
        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(frame["id"], "a\"b");
        assert_eq!(frame["type"], "next");
        assert_eq!(frame["payload"]["data"]["x"], 1);
    }

    #[test]
    fn a_group_lives_while_it_has_subscribers() {
        let groups = Groups::new(Arc::default());
        let key = GroupKey::new(
            "subscription { x }",
            None,
            &serde_json::json!({}),
            &Principal::anonymous(),
        );
        let a = groups.join(key.clone());
        let b = groups.join(key.clone());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(groups.len(), 1);
        drop((a, b));
        assert_eq!(groups.len(), 0);
        let c = groups.join(key);
        assert_eq!(c.kept(), 0);
    }
}
