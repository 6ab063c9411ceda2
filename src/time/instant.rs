//! Virtual instants: exact nanosecond counts since the loop's epoch.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A point on a loop's virtual clock: an exact count of nanoseconds since the loop's epoch
/// (`t = 0`, [`Instant::ZERO`]).
///
/// There is no floating point anywhere in scheduling, so ten chained 100 ms delays end at
/// exactly one second:
///
/// ```
/// use simloop::Instant;
/// use std::time::Duration;
///
/// let mut t = Instant::ZERO;
/// for _ in 0..10 {
///     t += Duration::from_millis(100);
/// }
/// assert_eq!(t, Instant::from_nanos(1_000_000_000));
/// assert_eq!(t.to_string(), "1s");
/// assert_eq!((t + Duration::from_millis(1500)).to_string(), "2.5s");
/// ```
///
/// Adding a [`Duration`] saturates at [`Instant::MAX`], an instant that never comes: a timer
/// set there never fires and never attracts the clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The loop's epoch: every loop starts here.
    pub const ZERO: Instant = Instant(0);
    /// The end of time. A deadline here never fires.
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// The instant `micros` microseconds after the epoch, saturating at [`Instant::MAX`].
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros.saturating_mul(1_000))
    }

    /// The instant `millis` milliseconds after the epoch, saturating at [`Instant::MAX`].
    ///
    /// ```
    /// use simloop::Instant;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Instant::from_millis(1500), Instant::ZERO + Duration::from_millis(1500));
    /// assert_eq!(Instant::from_millis(1500).to_string(), "1.5s");
    /// ```
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// The instant `secs` seconds after the epoch, saturating at [`Instant::MAX`].
    pub const fn from_secs(secs: u64) -> Instant {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// The instant `d` after the epoch, saturating at [`Instant::MAX`] (as `Instant::ZERO + d`
    /// does). The inverse of [`as_duration`](Instant::as_duration) for every instant but
    /// [`Instant::MAX`].
    ///
    /// ```
    /// use simloop::Instant;
    /// use std::time::Duration;
    ///
    /// let t = Instant::from_duration(Duration::from_micros(2_500_000));
    /// assert_eq!(t, Instant::from_millis(2500));
    /// assert_eq!(t.as_duration(), Duration::from_millis(2500));
    /// ```
    pub const fn from_duration(d: Duration) -> Instant {
        let nanos = d.as_nanos();
        if nanos > u64::MAX as u128 {
            Instant::MAX
        } else {
            Instant(nanos as u64)
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the epoch, as a [`Duration`]: the same as `self - Instant::ZERO`, for
    /// components that keep time as a `Duration` (see [`Clock`](crate::Clock)).
    ///
    /// ```
    /// use simloop::Instant;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Instant::from_secs(90).as_duration(), Duration::from_secs(90));
    /// ```
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Seconds since the epoch, for display and arithmetic outside the loop.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// `self + d`, or `None` past `u64::MAX` nanoseconds.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Instant)
    }

    /// `self - d`, or `None` before the epoch.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_sub(n))
            .map(Instant)
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`].
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`].
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).unwrap_or(Instant::ZERO)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

/// `d + t` is `t + d`: saturates at [`Instant::MAX`].
///
/// ```
/// use simloop::Instant;
/// use std::time::Duration;
///
/// assert_eq!(Duration::from_secs(1) + Instant::from_millis(500), Instant::from_millis(1500));
/// ```
impl Add<Instant> for Duration {
    type Output = Instant;
    fn add(self, t: Instant) -> Instant {
        t.saturating_add(self)
    }
}

/// [`Instant::as_duration`]: the time since the epoch.
impl From<Instant> for Duration {
    fn from(t: Instant) -> Duration {
        t.as_duration()
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Same as [`Instant::duration_since`]: zero if `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

/// Prints seconds with only the digits needed: `0s`, `2.5s`, `0.000000001s`.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&secs_string(self.0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `nanos` as seconds with trailing zeros trimmed; shared with duration printing.
pub(crate) fn secs_string(nanos: u64) -> String {
    let (secs, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    if frac == 0 {
        format!("{secs}s")
    } else {
        let digits = format!("{frac:09}");
        format!("{secs}.{}s", digits.trim_end_matches('0'))
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX`.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
