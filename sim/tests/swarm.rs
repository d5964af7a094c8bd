//! CI's swarm: 200 seeds, each drawing a scenario and its fault parameters
//! (with protocol times shrunk so a seed stays cheap). Any failure prints the
//! command that replays it.

#[test]
fn swarm_200_seeds() {
    let mut failures = Vec::new();
    for seed in 0..200 {
        let plan = tenure_sim::scenario::swarm(seed);
        let replay = tenure_sim::replay_command(&plan);
        let report = tenure_sim::run(plan, None);
        if let Some(f) = report.failure() {
            failures.push(format!("seed {seed}: {f}\n  replay: {replay}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Swarm seeds beyond the first 200 that once found a fault, kept as the
/// cheapest regression test of it. 1717, 2192, 2673: after a forward step
/// of the storage clock, a manager that died kept its registry row live for
/// the size of the step (hours), so with `max_managers` 1 neither its peer
/// nor its own restart served; 2192 also has a stamp from before a backward
/// step brought back under the storage clock by a later forward one.
/// 1133: a manager back from a long cut counted a step recorded late by its
/// peer as one of its own interval, and recorded a step back no clock made.
/// 1039719: a manager that had not seen a forward step raised the high-water
/// mark on the stepped clock; once a peer recorded the step, a restart found
/// the corrected instant below that mark and recorded a step back no clock
/// made. 10007913: a manager back from a cut took its peer's record of a
/// step back for one made before its cut, because a forward step no one
/// recorded shifted where it was seen, and recorded the step back again.
/// 18021208: a process back from a hang counted a step it had met unseen at
/// its start, recorded by its peer while it hung, beside a later one, and
/// recorded a step back no clock made.
#[test]
fn seeds_that_once_found_faults() {
    for seed in [1133, 1717, 2192, 2673, 1039719, 10007913, 18021208] {
        let plan = tenure_sim::scenario::swarm(seed);
        let replay = tenure_sim::replay_command(&plan);
        let report = tenure_sim::run(plan, None);
        assert!(report.failure().is_none(), "seed {seed}: {replay}");
    }
}

/// Swarm seeds beyond the first 200 on which a check was stricter than the
/// contract (sim/README.md): twins ordered by when their answers arrived
/// rather than by commit (1014672, 1016107, 1017387), a re-grant in grace
/// not taken for a claim (1004134), a manager counted reachable while its
/// peer held their shared node id (1023553), a storage clock step met at a
/// restart recorded in two parts (1006679, 1010213), a twin on a replaced
/// grant still counted after the newer one released (1034604, 1039123), an
/// admin release of a component whose agent had lost its grant id (1013635),
/// a confirmation round over two manager URLs, or with a re-grant after a
/// 404, given the time of one request (2013605, 3018754), a round that lost
/// a message to the network blamed on the agent (1057731, 2000985), a round
/// run before the balancer had failed over (3015535) or before restarted
/// managers served (3020959, 4017906) blamed on the agent, a storage clock
/// step a restarted manager's sweep met before the watcher counted as seen,
/// which left no room for its record in two parts (5011405), a step whose
/// only watcher died unread counted as seen because another manager read a
/// later step (6013314), a peer counted as free to serve from a fault until
/// the next one, though the other manager's next heartbeat took the only
/// slot back seconds later (9033251), a supervisor that started a
/// component on a paused host, which then ran on a grant taken while no
/// clock of it moved (14015943), and a component counted although an
/// operator released its instance after storage committed its grant and
/// before the answer reached it (20029617).
#[test]
fn seeds_where_a_check_exceeded_the_contract() {
    for seed in [
        1004134, 1006679, 1010213, 1013635, 1014672, 1016107, 1017387, 1023553, 1034604, 1039123,
        1057731, 2000985, 2013605, 3018754, 3015535, 3020959, 4017906, 5011405, 6013314, 9033251,
        14015943, 20029617,
    ] {
        let plan = tenure_sim::scenario::swarm(seed);
        let replay = tenure_sim::replay_command(&plan);
        let report = tenure_sim::run(plan, None);
        assert!(report.failure().is_none(), "seed {seed}: {replay}");
        assert_eq!(report.freed_by_unseen_step, 0, "seed {seed}: {replay}");
        assert_eq!(report.freed_in_blind_time, 0, "seed {seed}: {replay}");
    }
}

/// A forward step of the storage clock while no manager could see it frees
/// slots of components still in grace (docs/semantics.md, "Limits"): those
/// components leave I1's count, and the run says how many. The checker
/// reads the database itself, so this holds when the count goes over during
/// a database outage too (12031195: a paused component resumes then).
#[test]
fn unseen_storage_clock_steps_free_slots_and_say_so() {
    for (seed, freed) in [
        (1002026, 5),
        (1005639, 4),
        (1008580, 5),
        (1022479, 1),
        (12031195, 1),
    ] {
        let plan = tenure_sim::scenario::swarm(seed);
        let replay = tenure_sim::replay_command(&plan);
        let report = tenure_sim::run(plan, None);
        assert!(report.failure().is_none(), "seed {seed}: {replay}");
        assert_eq!(report.freed_by_unseen_step, freed, "seed {seed}: {replay}");
        assert!(
            report
                .summary()
                .contains("slots freed by a storage clock step no manager saw"),
            "seed {seed}"
        );
    }
}

/// A host paused behind a wall clock set back runs past its real deadline by
/// the pause (docs/semantics.md, "Limits"); storage reclaims its slot at the
/// real deadline plus the reclaim margin, and another server may take it:
/// the component leaves I1's count, and the run says so.
#[test]
fn slots_reclaimed_in_blind_time_leave_the_count_and_say_so() {
    let plan = tenure_sim::scenario::swarm(11020890);
    let replay = tenure_sim::replay_command(&plan);
    let report = tenure_sim::run(plan, None);
    assert!(report.failure().is_none(), "{replay}");
    assert_eq!(report.freed_in_blind_time, 1, "{replay}");
    assert!(
        report
            .summary()
            .contains("slots reclaimed from components running on blind time"),
        "{replay}"
    );
}
