//! Which core each thread is pinned to. The machine's core list is read once at start, before
//! any thread is pinned: a pinned thread's children inherit its affinity mask, so a later read
//! from a pinned thread would see only its own core.

use core_affinity::CoreId;

use crate::config::ThreadsSection;

/// A configured core the machine does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// `key` names core `core`, which is not among the machine's `available` cores.
    #[error("{key}: {}", missing(*core, available))]
    Missing {
        /// The config key that names the core (`threads.feed_cores[1]`).
        key: String,
        /// The core asked for.
        core: usize,
        /// The cores the machine has.
        available: Vec<usize>,
    },
}

impl CoreError {
    /// The config key that names the core.
    pub fn key(&self) -> &str {
        match self {
            CoreError::Missing { key, .. } => key,
        }
    }

    /// What is wrong with it, without the key.
    pub fn reason(&self) -> String {
        match self {
            CoreError::Missing {
                core, available, ..
            } => missing(*core, available),
        }
    }
}

fn missing(core: usize, available: &[usize]) -> String {
    let ids: Vec<String> = available.iter().map(|c| c.to_string()).collect();
    format!("core {core} does not exist here (cores: {})", ids.join(","))
}

/// The pinning plan for one run.
#[derive(Debug, Clone)]
pub struct CorePlan {
    pub engine: Option<CoreId>,
    pub gateway: Option<CoreId>,
    feeds: Vec<CoreId>,
}

impl CorePlan {
    /// Checks every configured core against the machine's cores. Errors name the key.
    pub fn new(threads: &ThreadsSection, available: &[CoreId]) -> Result<CorePlan, CoreError> {
        let find = |key: &str, id: usize| {
            available
                .iter()
                .copied()
                .find(|c| c.id == id)
                .ok_or_else(|| CoreError::Missing {
                    key: key.to_string(),
                    core: id,
                    available: available.iter().map(|c| c.id).collect(),
                })
        };
        Ok(CorePlan {
            engine: threads
                .engine_core
                .map(|id| find("threads.engine_core", id))
                .transpose()?,
            gateway: threads
                .gateway_core
                .map(|id| find("threads.gateway_core", id))
                .transpose()?,
            feeds: threads
                .feed_cores
                .iter()
                .enumerate()
                .map(|(i, &id)| find(&format!("threads.feed_cores[{i}]"), id))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Reads the machine's cores (once) and builds the plan.
    pub fn detect(threads: &ThreadsSection) -> Result<CorePlan, CoreError> {
        let available = core_affinity::get_core_ids().unwrap_or_default();
        CorePlan::new(threads, &available)
    }

    /// The core of the `n`th feed group: the configured feed cores in turn, or none.
    pub fn feed(&self, n: usize) -> Option<CoreId> {
        (!self.feeds.is_empty()).then(|| self.feeds[n % self.feeds.len()])
    }
}

/// Pins the calling thread, if a core is given. Returns whether it is pinned.
pub fn pin_current(core: Option<CoreId>) -> bool {
    core.is_some_and(core_affinity::set_for_current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_checks_cores_and_rotates_feeds() {
        let available = [CoreId { id: 0 }, CoreId { id: 1 }, CoreId { id: 3 }];
        let threads = ThreadsSection {
            engine_core: Some(1),
            gateway_core: None,
            feed_cores: vec![0, 3],
            busy_poll: true,
        };
        let plan = CorePlan::new(&threads, &available).unwrap();
        assert_eq!(plan.engine, Some(CoreId { id: 1 }));
        assert_eq!(plan.feed(0), Some(CoreId { id: 0 }));
        assert_eq!(plan.feed(1), Some(CoreId { id: 3 }));
        assert_eq!(plan.feed(2), Some(CoreId { id: 0 }));
        let bad = ThreadsSection {
            engine_core: Some(2),
            ..threads.clone()
        };
        let err = CorePlan::new(&bad, &available).unwrap_err();
        assert_eq!(
            err,
            CoreError::Missing {
                key: "threads.engine_core".into(),
                core: 2,
                available: vec![0, 1, 3],
            }
        );
        assert_eq!(
            err.to_string(),
            "threads.engine_core: core 2 does not exist here (cores: 0,1,3)"
        );
        assert_eq!(err.key(), "threads.engine_core");
        assert_eq!(err.reason(), "core 2 does not exist here (cores: 0,1,3)");
        let bad_feed = ThreadsSection {
            feed_cores: vec![0, 7],
            ..threads.clone()
        };
        assert!(matches!(
            CorePlan::new(&bad_feed, &available),
            Err(CoreError::Missing { key, core: 7, .. }) if key == "threads.feed_cores[1]"
        ));
        let none = CorePlan::new(&ThreadsSection::default(), &available).unwrap();
        assert_eq!(none.feed(5), None);
    }
}
