//! CPU time and peak memory of this process, from `/proc` (the workspace forbids `unsafe`,
//! which a direct `getrusage` call needs; `/proc/self/stat` holds the same counters, in clock
//! ticks: 10 ms on Linux).

use crate::BenchError;

/// CPU counters (clock ticks) and peak resident memory of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// User time of this process (`utime`).
    pub user: u64,
    /// System time of this process (`stime`).
    pub sys: u64,
    /// User time of the children it waited for (`cutime`).
    pub children_user: u64,
    /// System time of the children it waited for (`cstime`).
    pub children_sys: u64,
    /// Peak resident set size, kB (`VmHWM`).
    pub peak_rss_kb: u64,
}

impl ProcStats {
    /// Read the counters now.
    pub fn now() -> Result<Self, BenchError> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        let status = std::fs::read_to_string("/proc/self/status")?;
        Self::parse(&stat, &status)
            .ok_or_else(|| BenchError::Stub("cannot parse /proc/self/stat or status".into()))
    }

    fn parse(stat: &str, status: &str) -> Option<Self> {
        // Fields after the command name (which may hold spaces and parentheses): the state is
        // field 3, so utime (field 14) is the 12th after it.
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        let peak_rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
        Some(ProcStats {
            user: num(11)?,
            sys: num(12)?,
            children_user: num(13)?,
            children_sys: num(14)?,
            peak_rss_kb,
        })
    }

    /// (user, system) seconds since `earlier`, this process and its waited-for children.
    pub fn cpu_since(&self, earlier: &ProcStats) -> (f64, f64) {
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let user =
            (self.user + self.children_user).saturating_sub(earlier.user + earlier.children_user);
        let sys = (self.sys + self.children_sys).saturating_sub(earlier.sys + earlier.children_sys);
        (user as f64 / hz, sys as f64 / hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (a b) c) S 1 1 1 0 -1 0 0 0 0 0 150 25 3 4 20 0 1 0 0 0 0";
        let status = "Name:\tx\nVmHWM:\t  12345 kB\nVmRSS:\t 100 kB\n";
        let s = ProcStats::parse(stat, status).expect("parses");
        assert_eq!(
            (s.user, s.sys, s.children_user, s.children_sys),
            (150, 25, 3, 4)
        );
        assert_eq!(s.peak_rss_kb, 12345);
    }
}
