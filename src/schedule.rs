//! How the loop decides what its ordering contract leaves open.

/// The policy that orders what the ordering contract leaves open.
///
/// `Fifo`, the default, is the contract itself: one FIFO ready queue, equal deadlines in
/// registration order. Exploring schedules come with schedule exploration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// Everything in FIFO order, as CPython's asyncio runs it.
    #[default]
    Fifo,
}
