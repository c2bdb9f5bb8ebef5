use crate::sim::http::{Reply, RestRequest};
use crate::sim::Shared;

pub(crate) fn rest(_req: &RestRequest, _shared: &Shared) -> Option<Reply> {
    None
}
