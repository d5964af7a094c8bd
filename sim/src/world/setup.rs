//! A world built from its plan: the license, the managers, the components
//! and their clocks.

use super::*;

impl World {
    pub fn new(plan: Plan, trace: Option<Box<dyn Write>>) -> Self {
        let mut rng = SimRng::new(plan.seed);
        let db_now = Arc::new(AtomicI64::new(WALL0));
        let true_now = Arc::new(AtomicU64::new(0));
        let db_clock = HostClock::new(0, WALL0, Duration::ZERO, plan.db_ppm);
        let reader = db_now.clone();
        // One thread writes and reads it (the store's clock is called from
        // within the event loop): no ordering with other memory is needed.
        let checker =
            MemoryStore::new(Arc::new(move || UnixMillis(reader.load(Ordering::Relaxed))));
        let vendor = SecretKey::from_seed([7; 32]);
        let license = make_license(&plan, plan.not_after_ms, None);
        let armoured = sign(&license, &vendor).unwrap_or_else(|e| panic!("sign: {e}"));
        let cfg = tenure_core::manager::ManagerConfig {
            lease_ttl: Duration::from_secs(plan.lease_ttl_s),
            renew_every: Duration::from_secs(plan.renew_every_s),
            reclaim_margin: Duration::from_secs(plan.reclaim_margin_s),
        };
        let bug_ttl = match plan.bug {
            Some(Bug::ReclaimAtLeaseTtl) => Some(plan.lease_ttl_s * SEC),
            Some(Bug::NoReclaimMargin) => Some(plan.grace_ms()),
            _ => None,
        };
        let launch = Launch {
            config: cfg,
            vendor: vendor.verifying_key(),
            true_now: true_now.clone(),
            without_nonce: plan.bug == Some(Bug::NoNonce),
        };
        let db_switch = Arc::new(AtomicBool::new(true));
        let mut mgrs = Vec::new();
        for m in 0..2 {
            let store = SimStore::new(
                checker.clone(),
                db_switch.clone(),
                bug_ttl,
                plan.bug == Some(Bug::LostHighWater),
            );
            let manager = launch.start(&store, &nonce(m, 0));
            let clock = HostClock::new(
                0,
                WALL0 + plan.mgr_offset_ms[m],
                Duration::ZERO,
                plan.mgr_ppm[m],
            );
            // A node-id clash: both processes were given the first's id.
            let id = if plan.node_clash { 0 } else { m };
            mgrs.push(Mgr {
                manager,
                store,
                node_id: format!("manager-{id}"),
                clock,
                status: MgrStatus::Up,
                inc: 0,
                node: NodeState::default(),
                grants_ok: 0,
            });
        }
        if let Err(e) = mgrs[0]
            .manager
            .install_license(&armoured, InstallPolicy::IfNewer)
        {
            panic!("install license: {e}");
        }
        let template = GrantRequest {
            instance: Instance {
                environment: name("production"),
                product: name("vdp"),
                hostname: Hostname::parse("c0.sim.example").unwrap_or_else(|e| panic!("{e}")),
                port: 9000,
            },
            facts: HostFacts {
                cores: plan.cores,
                ip: None,
                version: Some("9.1.0".into()),
            },
            client_time: None,
        };
        let urls = if plan.direct { 2 } else { 1 };
        let mut config = AgentConfig::new(template.clone(), urls);
        config.request_timeout = Duration::from_millis(AGENT_REQUEST_TIMEOUT_MS);
        // The drivers' cap is emulated by the driver (`Comp::chain`), so the
        // agent itself may sleep until its next real deadline.
        config.max_sleep = Duration::from_secs(86_400);
        let mut comps = Vec::new();
        for i in 0..plan.components {
            let mut req = template.clone();
            req.instance.hostname =
                Hostname::parse(&format!("c{i}.sim.example")).unwrap_or_else(|e| panic!("{e}"));
            if let Some((_, cores)) = plan.host_cores.iter().find(|(c, _)| *c == i) {
                req.facts.cores = *cores;
            }
            let offset = rng.range_i(-plan.comp_offset_ms, plan.comp_offset_ms);
            // A negative `comp_ppm`: every clock slow, by up to its size.
            let ppm = if plan.comp_ppm < 0 {
                rng.range_i(plan.comp_ppm, 0)
            } else {
                rng.range_i(-plan.comp_ppm, plan.comp_ppm)
            };
            let mono0 = Duration::from_secs(rng.range(1, 1_000_000));
            let mut clock = HostClock::new(0, WALL0 + offset, mono0, ppm);
            clock.set_wall_only(plan.bug == Some(Bug::WallClockGrace));
            clock.set_mono_only(plan.bug == Some(Bug::MonotonicOnlyGrace));
            clock.freeze_mono_in_suspend = plan.bug == Some(Bug::BareMonotonic);
            comps.push(Comp {
                req: Box::new(req),
                clock,
                agent: None,
                gen_: 0,
                token: 0,
                wake_at: None,
                chain: false,
                crashed: true,
                up_blocked: false,
                sent_in_second: (0, 0),
                woken_in_second: (0, 0),
                prev_now: None,
                prev_epoch: 0,
                held: None,
                last_granted: None,
                unserved_at: None,
                stopped_cleanly: false,
                release_due: None,
                expect_step: None,
                warned: 0,
                blurred: false,
                a3_resume_by: 0,
                held_answers: Vec::new(),
                down_blocked: false,
                inflight: Vec::new(),
                running: false,
                counted: false,
                forfeited: None,
                last_ok_send: 0,
                grace_ms: 0,
                i2_base: 0,
                i2_allowed: 0,
                i2_epoch: 0,
                grace_since: None,
                healthy_since: None,
                best_window: 0,
                i5_pending: None,
                i5_attempt: None,
                stops: Vec::new(),
                starts: Vec::new(),
                claimed_at: None,
                answer_from_manager: false,
                a4_due: None,
                last_ask: None,
                entered_grace: false,
                last_resume: 0,
                guard: None,
                deferred: None,
                resumed_late: false,
                wall_ahead: false,
                wall_shift_ms: 0,
                paused_ms: 0,
                paused_at: None,
                on_resume: Vec::new(),
                msgs: 0,
            });
        }
        if plan.bug != Some(Bug::TwinsApart) {
            for &(a, b) in &plan.twins {
                if a < comps.len() && b < comps.len() {
                    let identity = comps[a].req.clone();
                    comps[b].req = identity;
                }
            }
        }
        let lbc = plan.lb;
        let d = lbc.inter_ms * u64::from(lbc.fall) + lbc.inter_ms;
        let x = d + 10 * SEC;
        let step = (x / SEC + 1).next_power_of_two() * SEC;
        let failover_bound = x + step.min(plan.renew_every_s * SEC) + 2 * SEC;
        let flapping = plan.flapping;
        let mut w = Self {
            rng,
            launch,
            t: 0,
            queue: EventQueue::default(),
            comps,
            mgrs,
            checker,
            db_now,
            true_now,
            db_clock,
            db_switch,
            healthy: true,
            lb: [Backend {
                up: true,
                ok_run: 0,
                fail_run: 0,
            }; 2],
            lb_to_mgr: [false; 2],
            mgr_to_lb: [false; 2],
            flapping,
            proxy: None,
            refusing: None,
            db_steps: (0, 0),
            db_steps_unwatched: 0,
            pending_steps: Vec::new(),
            unseen_steps: Vec::new(),
            freed_by_unseen_step: 0,
            freed_in_blind_time: 0,
            db_step_sizes_ms: 0,
            db_step_unread: [false; 2],
            db_windows_closed_by: 0,
            scratch_tx: Vec::new(),
            scratch_ev: Vec::new(),
            next_check: [0; 2],
            parked_check: [None; 2],
            pending_faults: BinaryHeap::new(),
            limit_servers: plan.max_servers,
            limit_cores: plan.max_total_cores,
            vendor,
            license,
            config,
            servers: 0,
            cores: 0,
            ledger: BTreeMap::new(),
            committed: BTreeMap::new(),
            i2_hints: BinaryHeap::new(),
            hash: TraceHash::default(),
            wire: wire::Wire::default(),
            trace,
            events: 0,
            renewals: 0,
            grants: 0,
            grace_ms_total: 0,
            denials: BTreeMap::new(),
            stops: BTreeMap::new(),
            failover: None,
            worst_gap: None,
            failover_bound,
            late_successes: 0,
            expiry_announced: false,
            verdicts: Verdicts::default(),
            storming: false,
            held_until_at_crash: BTreeMap::new(),
            max_resume_overrun: 0,
            inline: None,
            inline_answers: 0,
            inline_wake: None,
            inline_wakes: 0,
            plan,
        };
        w.schedule_start();
        w
    }
}
