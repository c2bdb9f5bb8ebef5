//! Which core each thread is pinned to. The machine's core list is read once at start, before
//! any thread is pinned: a pinned thread's children inherit its affinity mask, so a later read
//! from a pinned thread would see only its own core.

use core_affinity::CoreId;

use crate::config::ThreadsSection;

/// The pinning plan for one run.
#[derive(Debug, Clone)]
pub struct CorePlan {
    pub engine: Option<CoreId>,
    pub gateway: Option<CoreId>,
    feeds: Vec<CoreId>,
}

impl CorePlan {
    /// Checks every configured core against the machine's cores. Errors name the key.
    pub fn new(
        threads: &ThreadsSection,
        available: &[CoreId],
    ) -> Result<CorePlan, (String, String)> {
        let find = |key: &str, id: usize| {
            available
                .iter()
                .copied()
                .find(|c| c.id == id)
                .ok_or_else(|| {
                    let ids: Vec<String> = available.iter().map(|c| c.id.to_string()).collect();
                    (
                        key.to_string(),
                        format!("core {id} does not exist here (cores: {})", ids.join(",")),
                    )
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
    pub fn detect(threads: &ThreadsSection) -> Result<CorePlan, (String, String)> {
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
        let (key, reason) = CorePlan::new(&bad, &available).unwrap_err();
        assert_eq!(key, "threads.engine_core");
        assert!(
            reason.contains("core 2 does not exist here (cores: 0,1,3)"),
            "{reason}"
        );
        let none = CorePlan::new(&ThreadsSection::default(), &available).unwrap();
        assert_eq!(none.feed(5), None);
    }
}
