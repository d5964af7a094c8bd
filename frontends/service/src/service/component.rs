//! A component's call (grant, renew, release: section 4) as the service runs
//! it on storage, and what it came to before it is written as HTTP. The
//! HTTP servers write every outcome at once; the simulator runs its managers
//! through this same step and keeps a grant typed, so that a simulated week
//! need not write every renewal as JSON.

use super::failure;
use crate::http::Response;
use crate::metrics::Outcome;
use tenure_core::wire::{GrantRequest, GrantResponse};
use tenure_core::{ErrorCode, GrantId, UnixMillis};
use tenure_storage::{Manager, ManagerError, Store};

/// A validated component call.
#[derive(Debug, Clone)]
pub enum ComponentCall {
    /// `random`: the new grant's id, 16 bytes from a CSPRNG; `None` when
    /// the source had none to give.
    Grant {
        request: Box<GrantRequest>,
        random: Option<[u8; 16]>,
    },
    Renew {
        id: GrantId,
        client_time: Option<UnixMillis>,
    },
    Release(GrantId),
}

/// What a component call came to.
#[derive(Debug)]
pub enum ComponentOutcome {
    /// 201.
    Granted(GrantResponse),
    /// 200.
    Renewed(GrantResponse),
    /// 204.
    Released,
    /// No random grant id could be drawn: 503 `overloaded`, nothing stored.
    NoRandom,
    Failed(ManagerError),
}

/// Runs `call` in one storage transaction.
pub fn run<S: Store>(manager: &Manager<S>, call: ComponentCall) -> ComponentOutcome {
    let done = match call {
        // A grant id is the component's credential: never a predictable one.
        ComponentCall::Grant { random: None, .. } => return ComponentOutcome::NoRandom,
        ComponentCall::Grant {
            request,
            random: Some(random),
        } => manager
            .grant(&request, random)
            .map(ComponentOutcome::Granted),
        ComponentCall::Renew { id, client_time } => manager
            .renew(id, client_time)
            .map(ComponentOutcome::Renewed),
        ComponentCall::Release(id) => manager.release(id).map(|()| ComponentOutcome::Released),
    };
    done.unwrap_or_else(ComponentOutcome::Failed)
}

impl ComponentOutcome {
    /// The answer as the service writes it, and what it counts as.
    pub fn written(&self) -> (Response, Outcome) {
        match self {
            Self::Granted(g) => (Response::json(201, g), Outcome::Granted),
            Self::Renewed(g) => (Response::json(200, g), Outcome::Renewed),
            Self::Released => (Response::empty(204), Outcome::Released),
            Self::NoRandom => (
                Response::error(
                    ErrorCode::Overloaded,
                    "the manager cannot draw a random grant id right now; retry shortly",
                ),
                Outcome::Overloaded,
            ),
            Self::Failed(e) => failure(e),
        }
    }
}
