//! The log wording the fault cases look for, in one place: the contract says
//! what must be reported (A4, T2, M9), not in which words, so these match
//! loosely and case-insensitively.

fn lower(line: &str) -> String {
    line.to_ascii_lowercase()
}

/// An agent line saying no manager could be reached (A4: a proxy's answer is
/// "unreachable"), including the grace notice that follows.
pub fn says_unreachable(line: &str) -> bool {
    let l = lower(line);
    l.contains("unreachable") || l.contains("no manager reachable") || l.contains("not reachable")
}

/// A line reporting a clock step or jump (T2 on the agent, M9 on a manager).
pub fn reports_clock_step(line: &str) -> bool {
    let l = lower(line);
    l.contains("clock") && (l.contains("step") || l.contains("jump"))
}

/// Lines of `text` that report a clock step.
pub fn clock_step_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| reports_clock_step(l))
        .map(str::to_owned)
        .collect()
}
