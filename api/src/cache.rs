//! A small bounded map for computed answers, verified tokens and persisted queries: at most
//! `capacity` values, the least recently used dropped first. Keys mostly carry what makes a
//! value current (an event's `seq`), so a newer step is simply another key; `remove` is for a
//! value found stale on use (a verified token past its `exp`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Values by key, with the tick each was last used at.
pub struct Recent<K, V> {
    capacity: usize,
    kept: Arc<Mutex<HashMap<K, (V, u64)>>>,
    clock: Arc<AtomicU64>,
}

impl<K, V> Clone for Recent<K, V> {
    fn clone(&self) -> Self {
        Self {
            capacity: self.capacity,
            kept: self.kept.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            kept: Arc::default(),
            clock: Arc::default(),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get_mut(key).map(|(value, used)| {
            *used = tick;
            value.clone()
        })
    }

    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn remove(&self, key: &K) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.remove(key);
    }

    pub fn put(&self, key: K, value: V) {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(key, (value, tick));
        while kept.len() > self.capacity {
            let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            kept.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_value_goes_first() {
        let cache = Recent::new(2);
        cache.put(1, "a");
        cache.put(2, "b");
        assert_eq!(cache.get(&1), Some("a"));
        cache.put(3, "c");
        assert_eq!(cache.get(&2), None, "2 was used least recently");
        assert_eq!((cache.get(&1), cache.get(&3)), (Some("a"), Some("c")));
    }
}
