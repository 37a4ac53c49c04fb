use super::*;
use crate::release::judge::Percentiles;

fn v(s: &str) -> Version {
    Version::parse(s).expect(s)
}

fn cfg() -> CanaryConfig {
    CanaryConfig::default()
}

/// A fake clock plus the state it drives.
struct Sim {
    now_ms: u64,
    cfg: CanaryConfig,
    state: RolloutState,
}

impl Sim {
    fn new() -> Self {
        Sim {
            now_ms: 1_000_000,
            cfg: cfg(),
            state: RolloutState::with_stable(v("1.0.0"), 0),
        }
    }
    fn advance_s(&mut self, seconds: u64) {
        self.now_ms += seconds * 1000;
    }
    fn try_apply(&self, e: Event) -> Result<(RolloutState, Vec<Effect>), Refusal> {
        apply(&self.state, e, self.now_ms, &self.cfg)
    }
    fn ok(&mut self, e: Event) -> Vec<Effect> {
        let before = self.state.generation;
        let (s, effects) = self
            .try_apply(e.clone())
            .unwrap_or_else(|r| panic!("{e:?}: {r}"));
        assert_eq!(s.generation, before + 1);
        assert_eq!(s.history.last().map(|h| h.generation), Some(s.generation));
        self.state = s;
        effects
    }
    fn refused(&self, e: Event) -> Vec<RefusalReason> {
        match self.try_apply(e) {
            Err(r) => {
                assert!(!r.reasons.is_empty());
                r.reasons
            }
            Ok((s, _)) => panic!("applied: {}", s.stage_label()),
        }
    }
    fn cand(&self) -> &CandidateState {
        self.state.candidate.as_ref().expect("candidate")
    }
    fn cut(&mut self, ver: &str) {
        self.ok(Event::CutCandidate { version: v(ver) });
    }
    fn progress(&mut self) -> Vec<Effect> {
        self.ok(progress_by(None))
    }
    fn judged(&mut self, verdict: Verdict, requests: u64) -> Vec<Effect> {
        self.ok(Event::IntervalJudged(interval(verdict, requests)))
    }
    /// Cut, enter stage 0, soak, pass → auto to stage 1 (25%).
    fn reach_stage_1(&mut self) {
        self.cut("1.1.0-rc.1");
        self.progress();
        self.advance_s(600);
        self.judged(Verdict::Pass, 300);
        assert_eq!(self.state.traffic_percent(), 25.0);
    }
    /// Then soak 1800 s, pass, approved progress → 100%.
    fn reach_last_stage(&mut self) {
        self.reach_stage_1();
        self.advance_s(1800);
        self.judged(Verdict::Pass, 300);
        self.ok(progress_by(Some("alice")));
        assert_eq!(self.state.traffic_percent(), 100.0);
    }
}

fn progress_by(who: Option<&str>) -> Event {
    Event::Progress {
        restart: false,
        approved_by: who.map(str::to_string),
    }
}

fn restart_by(who: Option<&str>) -> Event {
    Event::Progress {
        restart: true,
        approved_by: who.map(str::to_string),
    }
}

fn kill() -> Event {
    Event::KillSwitch {
        reason: "p95 regression".into(),
        by: "oncall".into(),
    }
}

fn interval(verdict: Verdict, requests: u64) -> Interval {
    Interval {
        verdict,
        reasons: if verdict == Verdict::Pass {
            vec![]
        } else {
            vec![format!("{verdict}")]
        },
        candidate_requests: requests,
        stable_requests: requests * 19,
        candidate_error_rate: 0.0,
        stable_error_rate: 0.0,
        candidate_latency: Percentiles::default(),
        stable_latency: Percentiles::default(),
        p95_ratio: Some(1.0),
        mw_p_value: 0.5,
    }
}

// ---- transitions ---------------------------------------------------------

#[test]
fn cut_makes_a_ready_candidate_at_zero() {
    let mut sim = Sim::new();
    let effects = sim.ok(Event::CutCandidate {
        version: v("1.1.0-rc.1"),
    });
    assert_eq!(
        effects,
        vec![Effect::CandidateCut {
            version: v("1.1.0-rc.1")
        }]
    );
    let c = sim.cand();
    assert_eq!(c.phase, Phase::Ready);
    assert_eq!(c.stage_index, None);
    assert_eq!(c.stages, vec![5.0, 25.0, 100.0]);
    assert_eq!(c.cut_ms, sim.now_ms);
    assert_eq!(sim.state.traffic_percent(), 0.0);
    assert_eq!(sim.state.stage_label(), "ready (0%)");
    assert_eq!(sim.state.next_stage(), Some(5.0));
    assert_eq!(sim.state.generation, 1);
}

#[test]
fn cut_without_any_stable() {
    let mut sim = Sim::new();
    sim.state = RolloutState::default();
    sim.cut("0.1.0");
    assert_eq!(sim.cand().version, v("0.1.0"));
}

#[test]
fn progress_from_ready_enters_first_stage_without_approval() {
    let mut sim = Sim::new();
    sim.cut("1.1.0-rc.1");
    let effects = sim.progress();
    assert_eq!(
        effects,
        vec![Effect::Progressed {
            from_percent: 0.0,
            to_percent: 5.0,
            stage_index: 0,
            auto: false
        }]
    );
    assert_eq!(sim.cand().phase, Phase::Rolling);
    assert_eq!(sim.cand().stage_entered_ms, sim.now_ms);
    assert_eq!(sim.state.traffic_percent(), 5.0);
    assert_eq!(sim.state.stage_label(), "5% (stage 1 of 3)");
    assert_eq!(sim.state.next_stage(), Some(25.0));
}

#[test]
fn operator_progress_after_soak_and_pass() {
    let mut sim = Sim::new();
    sim.cfg.auto_progress = vec![false, false, false];
    sim.cut("1.1.0-rc.1");
    sim.progress();
    sim.advance_s(600);
    let e = sim.judged(Verdict::Pass, 250);
    assert_eq!(e.len(), 1, "no auto progress when the stage needs approval");
    assert_eq!(
        sim.refused(progress_by(None)),
        vec![RefusalReason::ApprovalMissing]
    );
    let e = sim.ok(progress_by(Some("alice")));
    assert_eq!(
        e,
        vec![Effect::Progressed {
            from_percent: 5.0,
            to_percent: 25.0,
            stage_index: 1,
            auto: false
        }]
    );
}

#[test]
fn operator_may_progress_an_auto_stage_without_approval() {
    let mut sim = Sim::new();
    sim.cut("1.1.0-rc.1");
    sim.progress();
    // Pass before soak: recorded, no auto progress.
    sim.advance_s(300);
    assert_eq!(sim.judged(Verdict::Pass, 300).len(), 1);
    sim.advance_s(300);
    // Soak elapsed, last interval passed: the operator need not approve stage 0.
    sim.progress();
    assert_eq!(sim.state.traffic_percent(), 25.0);
}

#[test]
fn interval_pass_auto_progresses_when_conditions_hold() {
    let mut sim = Sim::new();
    sim.cut("1.1.0-rc.1");
    sim.progress();
    sim.advance_s(599);
    let e = sim.judged(Verdict::Pass, 300);
    assert_eq!(
        e,
        vec![Effect::IntervalRecorded {
            verdict: Verdict::Pass,
            consecutive_failures: 0
        }]
    );
    assert_eq!(sim.state.traffic_percent(), 5.0);
    sim.advance_s(1);
    let e = sim.judged(Verdict::Pass, 300);
    assert_eq!(
        e[1],
        Effect::Progressed {
            from_percent: 5.0,
            to_percent: 25.0,
            stage_index: 1,
            auto: true
        }
    );
    assert_eq!(sim.cand().stage_entered_ms, sim.now_ms);
    // Stage 1 does not auto-progress, however long and well it runs.
    sim.advance_s(10_000);
    assert_eq!(sim.judged(Verdict::Pass, 300).len(), 1);
    assert_eq!(sim.state.traffic_percent(), 25.0);
}

#[test]
fn approved_progress_reaches_last_stage() {
    let mut sim = Sim::new();
    sim.reach_last_stage();
    assert_eq!(sim.state.stage_label(), "100% (stage 3 of 3)");
    assert_eq!(sim.state.next_stage(), None);
    // A pass at the last stage is recorded and goes nowhere.
    sim.advance_s(30);
    assert_eq!(sim.judged(Verdict::Pass, 5000).len(), 1);
    assert_eq!(sim.state.traffic_percent(), 100.0);
}

#[test]
fn failure_limit_failed_intervals_roll_back_with_evidence() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.judged(Verdict::Fail, 300);
    sim.judged(Verdict::Inconclusive, 10); // neither counts nor resets
    assert_eq!(sim.cand().consecutive_failures, 1);
    sim.judged(Verdict::Fail, 300);
    assert_eq!(sim.cand().consecutive_failures, 2);
    let e = sim.judged(Verdict::Fail, 300);
    let Effect::RolledBack { version, evidence } = &e[1] else {
        panic!("{e:?}")
    };
    assert_eq!(version, &v("1.1.0-rc.1"));
    assert_eq!(evidence.len(), 3);
    assert!(evidence.iter().all(|i| i.verdict == Verdict::Fail));
    let c = sim.cand();
    assert_eq!(c.phase, Phase::RolledBack);
    assert_eq!(c.stage_index, None);
    assert_eq!(c.rollbacks, 1);
    assert_eq!(sim.state.traffic_percent(), 0.0);
    assert_eq!(sim.state.stage_label(), "rolled back (0%)");
    assert_eq!(sim.state.next_stage(), Some(5.0));
}

#[test]
fn a_pass_resets_the_failure_count() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.judged(Verdict::Fail, 300);
    sim.judged(Verdict::Fail, 300);
    sim.judged(Verdict::Pass, 300);
    assert_eq!(sim.cand().consecutive_failures, 0);
    sim.judged(Verdict::Fail, 300);
    sim.judged(Verdict::Fail, 300);
    assert_eq!(sim.cand().phase, Phase::Rolling);
}

#[test]
fn kill_switch_from_every_phase() {
    // Ready, rolling, rolled back and already killed all go to killed at 0%.
    let setups: Vec<fn(&mut Sim)> = vec![
        |s| s.cut("1.1.0"),
        |s| s.reach_stage_1(),
        |s| s.reach_last_stage(),
        |s| {
            s.reach_stage_1();
            for _ in 0..3 {
                s.judged(Verdict::Fail, 300);
            }
        },
        |s| {
            s.reach_stage_1();
            s.ok(kill());
        },
    ];
    for setup in setups {
        let mut sim = Sim::new();
        setup(&mut sim);
        sim.advance_s(5);
        let e = sim.ok(kill());
        assert!(
            matches!(&e[0], Effect::Killed { reason, by, .. } if reason == "p95 regression" && by == "oncall")
        );
        let c = sim.cand();
        assert_eq!(c.phase, Phase::Killed);
        assert_eq!(
            c.killed,
            Some(KillInfo {
                reason: "p95 regression".into(),
                at_ms: sim.now_ms,
                by: "oncall".into()
            })
        );
        assert_eq!(sim.state.traffic_percent(), 0.0);
        assert_eq!(sim.state.stage_label(), "killed (0%)");
    }
}

#[test]
fn restart_after_kill_and_after_rollback() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.ok(kill());
    sim.advance_s(60);
    let e = sim.ok(restart_by(Some("alice")));
    assert_eq!(
        e,
        vec![Effect::Progressed {
            from_percent: 0.0,
            to_percent: 5.0,
            stage_index: 0,
            auto: false
        }]
    );
    assert_eq!(sim.cand().killed, None);
    assert_eq!(sim.state.traffic_percent(), 5.0);
    // The pass from before the kill does not count for the new stage entry.
    sim.advance_s(600);
    assert!(
        sim.refused(progress_by(Some("a")))
            .contains(&RefusalReason::LastIntervalNot { verdict: None })
    );

    for _ in 0..3 {
        sim.judged(Verdict::Fail, 300);
    }
    assert_eq!(sim.cand().phase, Phase::RolledBack);
    sim.ok(restart_by(Some("bob")));
    assert_eq!(sim.state.traffic_percent(), 5.0);
    assert_eq!(sim.cand().rollbacks, 1);
}

#[test]
fn promote_makes_candidate_stable_and_keeps_previous() {
    let mut sim = Sim::new();
    sim.reach_last_stage();
    let e = sim.ok(Event::Promote { signed_off: true });
    assert_eq!(
        e,
        vec![Effect::Promoted {
            version: v("1.1.0-rc.1"),
            previous: Some(v("1.0.0"))
        }]
    );
    assert!(sim.state.candidate.is_none());
    assert_eq!(sim.state.stable.as_ref().unwrap().version, v("1.1.0-rc.1"));
    assert_eq!(sim.state.stable.as_ref().unwrap().since_ms, sim.now_ms);
    assert_eq!(sim.state.previous.as_ref().unwrap().version, v("1.0.0"));
    assert_eq!(sim.state.traffic_percent(), 0.0);
    assert_eq!(sim.state.stage_label(), "no candidate");
    assert_eq!(sim.state.next_stage(), None);
}

#[test]
fn rollback_restores_previous_stable_once() {
    let mut sim = Sim::new();
    sim.reach_last_stage();
    sim.ok(Event::Promote { signed_off: true });
    let e = sim.ok(Event::Rollback);
    assert_eq!(
        e,
        vec![Effect::StableRestored {
            version: v("1.0.0"),
            replaced: Some(v("1.1.0-rc.1"))
        }]
    );
    assert_eq!(sim.state.stable.as_ref().unwrap().version, v("1.0.0"));
    assert!(sim.state.previous.is_none());
    assert_eq!(
        sim.refused(Event::Rollback),
        vec![RefusalReason::NoPrevious]
    );
}

#[test]
fn abandon_drops_the_candidate() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    let e = sim.ok(Event::Abandon);
    assert_eq!(
        e,
        vec![Effect::Abandoned {
            version: v("1.1.0-rc.1")
        }]
    );
    assert!(sim.state.candidate.is_none());
    assert_eq!(sim.state.traffic_percent(), 0.0);
    // A new candidate may now be cut.
    sim.cut("1.1.0-rc.2");
}

#[test]
fn history_and_intervals_are_bounded() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    for _ in 0..300 {
        sim.advance_s(30);
        sim.judged(Verdict::Inconclusive, 1);
    }
    assert_eq!(sim.state.history.len(), HISTORY_LIMIT);
    assert_eq!(sim.cand().intervals.len(), INTERVAL_LIMIT);
    let last = sim.state.history.last().unwrap();
    assert_eq!(last.generation, sim.state.generation);
    assert_eq!(last.event, "interval");
    // Oldest dropped first: entries stay in generation order.
    assert!(
        sim.state
            .history
            .windows(2)
            .all(|w| w[0].generation + 1 == w[1].generation)
    );
}

#[test]
fn stages_are_fixed_at_cut_time() {
    let mut sim = Sim::new();
    sim.cut("1.1.0");
    sim.cfg.stages = vec![50.0, 100.0];
    sim.progress();
    assert_eq!(sim.state.traffic_percent(), 5.0);
}

#[test]
fn clock_going_backwards_does_not_panic_or_skip_soak() {
    let mut sim = Sim::new();
    sim.cut("1.1.0");
    sim.progress();
    sim.now_ms -= 500_000;
    sim.judged(Verdict::Pass, 300);
    assert!(matches!(
        sim.refused(progress_by(None))[0],
        RefusalReason::SoakTimeLeft { seconds: 600 }
    ));
}

#[test]
fn state_round_trips_through_json() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.judged(Verdict::Fail, 300);
    sim.ok(kill());
    let json = serde_json::to_string(&sim.state).unwrap();
    let back: RolloutState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sim.state);
    let e: Event = serde_json::from_str(r#"{"type":"promote","signed_off":true}"#).unwrap();
    assert_eq!(e, Event::Promote { signed_off: true });
}

// ---- refusals ------------------------------------------------------------

#[test]
fn cut_refusals_candidate_active_and_not_newer_together() {
    let mut sim = Sim::new();
    sim.cut("1.1.0-rc.1");
    assert_eq!(
        sim.refused(Event::CutCandidate {
            version: v("0.9.0")
        }),
        vec![
            RefusalReason::CandidateActive {
                version: v("1.1.0-rc.1")
            },
            RefusalReason::NotNewer {
                version: v("0.9.0"),
                stable: v("1.0.0")
            }
        ]
    );
    // A killed candidate is still present: abandon it first.
    sim.ok(kill());
    assert!(matches!(
        sim.refused(Event::CutCandidate {
            version: v("1.2.0")
        })[..],
        [RefusalReason::CandidateActive { .. }]
    ));
}

#[test]
fn cut_refuses_equal_or_prerelease_of_stable() {
    let sim = Sim::new();
    for older in ["1.0.0", "1.0.0+other-build", "1.0.0-rc.9", "0.99.99"] {
        assert!(
            matches!(
                sim.refused(Event::CutCandidate { version: v(older) })[..],
                [RefusalReason::NotNewer { .. }]
            ),
            "{older}"
        );
    }
}

#[test]
fn progress_refusals_without_candidate() {
    let sim = Sim::new();
    assert_eq!(
        sim.refused(progress_by(None)),
        vec![RefusalReason::NoCandidate]
    );
}

#[test]
fn progress_refusal_lists_soak_interval_and_requests_at_once() {
    let mut sim = Sim::new();
    sim.cfg.auto_progress = vec![false, false, false];
    sim.cut("1.1.0");
    sim.progress();
    sim.advance_s(100);
    assert_eq!(
        sim.refused(progress_by(None)),
        vec![
            RefusalReason::SoakTimeLeft { seconds: 500 },
            RefusalReason::LastIntervalNot { verdict: None },
            RefusalReason::RequestsNeeded { n: 200 },
            RefusalReason::ApprovalMissing,
        ]
    );
    sim.judged(Verdict::Inconclusive, 150);
    sim.now_ms += 599_500 - 100_000; // 0.5 s of soak left rounds up to 1
    assert_eq!(
        sim.refused(progress_by(Some("alice"))),
        vec![
            RefusalReason::SoakTimeLeft { seconds: 1 },
            RefusalReason::LastIntervalNot {
                verdict: Some(Verdict::Inconclusive)
            },
            RefusalReason::RequestsNeeded { n: 50 },
        ]
    );
    sim.judged(Verdict::Fail, 400);
    sim.advance_s(1);
    assert_eq!(
        sim.refused(progress_by(Some("alice"))),
        vec![RefusalReason::LastIntervalNot {
            verdict: Some(Verdict::Fail)
        }]
    );
}

#[test]
fn progress_refuses_blank_approver() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.advance_s(1800);
    sim.judged(Verdict::Pass, 300);
    assert_eq!(
        sim.refused(progress_by(Some("  "))),
        vec![RefusalReason::ApprovalMissing]
    );
}

#[test]
fn progress_at_last_stage_says_promote() {
    let mut sim = Sim::new();
    sim.reach_last_stage();
    let r = sim.refused(progress_by(Some("alice")));
    assert_eq!(r, vec![RefusalReason::AtLastStage]);
    assert_eq!(r[0].to_string(), "already at 100%; promote instead");
}

#[test]
fn progress_refusals_when_killed_or_rolled_back() {
    let mut sim = Sim::new();
    sim.reach_stage_1();
    sim.ok(kill());
    assert_eq!(
        sim.refused(progress_by(Some("alice"))),
        vec![RefusalReason::KillSwitchActive {
            reason: "p95 regression".into()
        }]
    );
    assert_eq!(
        sim.refused(restart_by(None)),
        vec![RefusalReason::ApprovalMissing]
    );
    assert_eq!(
        sim.refused(progress_by(None)),
        vec![
            RefusalReason::KillSwitchActive {
                reason: "p95 regression".into()
            },
            RefusalReason::ApprovalMissing
        ]
    );

    let mut sim = Sim::new();
    sim.reach_stage_1();
    for _ in 0..3 {
        sim.judged(Verdict::Fail, 300);
    }
    assert_eq!(
        sim.refused(progress_by(Some("alice"))),
        vec![RefusalReason::RestartRequired]
    );
}

#[test]
fn interval_refusals() {
    let mut sim = Sim::new();
    let e = || Event::IntervalJudged(interval(Verdict::Pass, 300));
    assert_eq!(sim.refused(e()), vec![RefusalReason::NoCandidate]);
    sim.cut("1.1.0");
    assert_eq!(
        sim.refused(e()),
        vec![RefusalReason::NotRolling {
            phase: Phase::Ready
        }]
    );
    sim.progress();
    sim.ok(kill());
    assert_eq!(
        sim.refused(e()),
        vec![RefusalReason::NotRolling {
            phase: Phase::Killed
        }]
    );
}

#[test]
fn kill_refuses_without_candidate() {
    let sim = Sim::new();
    assert_eq!(sim.refused(kill()), vec![RefusalReason::NoCandidate]);
}

#[test]
fn promote_refusals() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.refused(Event::Promote { signed_off: true }),
        vec![RefusalReason::NoCandidate]
    );
    sim.reach_stage_1();
    assert_eq!(
        sim.refused(Event::Promote { signed_off: false }),
        vec![
            RefusalReason::NotAtLastStage { percent: 25.0 },
            RefusalReason::SignOffMissing
        ]
    );
    let mut sim = Sim::new();
    sim.reach_last_stage();
    assert_eq!(
        sim.refused(Event::Promote { signed_off: false }),
        vec![RefusalReason::SignOffMissing]
    );
    sim.ok(kill());
    assert_eq!(
        sim.refused(Event::Promote { signed_off: true }),
        vec![
            RefusalReason::KillSwitchActive {
                reason: "p95 regression".into()
            },
            RefusalReason::NotAtLastStage { percent: 0.0 }
        ]
    );
}

#[test]
fn rollback_refusals() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.refused(Event::Rollback),
        vec![RefusalReason::NoPrevious]
    );
    sim.cut("1.1.0");
    assert_eq!(
        sim.refused(Event::Rollback),
        vec![
            RefusalReason::CandidateActive {
                version: v("1.1.0")
            },
            RefusalReason::NoPrevious
        ]
    );
}

#[test]
fn abandon_refuses_without_candidate() {
    let sim = Sim::new();
    assert_eq!(
        sim.refused(Event::Abandon),
        vec![RefusalReason::NoCandidate]
    );
}

#[test]
fn refusal_reads_as_plain_words() {
    let r = Refusal {
        reasons: vec![
            RefusalReason::SoakTimeLeft { seconds: 42 },
            RefusalReason::RequestsNeeded { n: 7 },
            RefusalReason::LastIntervalNot {
                verdict: Some(Verdict::Fail),
            },
            RefusalReason::NotNewer {
                version: v("1.0.0"),
                stable: v("1.0.0"),
            },
        ],
    };
    assert_eq!(
        r.to_string(),
        "refused: the stage needs 42 more seconds of soak time; 7 more candidate requests are \
         needed in an interval; the last interval was fail, not a pass; 1.0.0 is not newer than \
         stable 1.0.0"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["reasons"][0]["code"], "soak_time_left");
    assert_eq!(json["reasons"][0]["seconds"], 42);
}

#[test]
fn invalid_config_never_panics() {
    let mut sim = Sim::new();
    sim.cfg = CanaryConfig {
        stages: vec![],
        soak_seconds: vec![],
        auto_progress: vec![],
        failure_limit: 0,
        ..cfg()
    };
    sim.cut("1.1.0");
    assert_eq!(
        sim.refused(progress_by(Some("a"))),
        vec![RefusalReason::AtLastStage]
    );
    assert_eq!(sim.state.traffic_percent(), 0.0);
}

// ---- properties ------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0u64..3, 0u64..3).prop_map(|(minor, rc)| Event::CutCandidate {
                version: v(&format!("1.{minor}.0-rc.{rc}"))
            }),
            (any::<bool>(), proptest::option::of("[a-z ]{0,3}")).prop_map(
                |(restart, approved_by)| Event::Progress {
                    restart,
                    approved_by
                }
            ),
            (0usize..3, 0u64..400).prop_map(|(k, n)| {
                let verdict = [Verdict::Pass, Verdict::Fail, Verdict::Inconclusive][k];
                Event::IntervalJudged(interval(verdict, n))
            }),
            Just(kill()),
            any::<bool>().prop_map(|signed_off| Event::Promote { signed_off }),
            Just(Event::Rollback),
            Just(Event::Abandon),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn random_sequences_keep_invariants(
            steps in proptest::collection::vec((event(), 0u64..2_000_000), 1..120)
        ) {
            let cfg = cfg();
            let mut state = RolloutState::with_stable(v("1.0.0"), 0);
            let mut now = 0u64;
            for (e, dt) in steps {
                now += dt;
                let before = state.generation;
                match apply(&state, e, now, &cfg) {
                    Ok((next, _)) => {
                        prop_assert_eq!(next.generation, before + 1);
                        state = next;
                    }
                    Err(r) => prop_assert!(!r.reasons.is_empty()),
                }
                let t = state.traffic_percent();
                prop_assert!(t == 0.0 || cfg.stages.contains(&t), "traffic {}", t);
                prop_assert!(state.history.len() <= HISTORY_LIMIT);
                if let Some(c) = &state.candidate {
                    prop_assert_eq!(c.phase == Phase::Rolling, c.stage_index.is_some());
                    prop_assert_eq!(c.phase == Phase::Killed, c.killed.is_some());
                    prop_assert!(c.intervals.len() <= INTERVAL_LIMIT);
                    prop_assert!(c.consecutive_failures < cfg.failure_limit);
                    if let Some(s) = &state.stable {
                        prop_assert!(c.version > s.version);
                    }
                }
            }
        }
    }
}
