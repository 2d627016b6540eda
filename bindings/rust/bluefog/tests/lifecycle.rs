// SPDX-License-Identifier: Apache-2.0
// One test per process on purpose: a Context that is dropped (finalizing MPI) cannot be created
// again. Checks the timeline activities end up in the per-rank trace file and that dropping the
// Context finalizes.
use bluefog::{Context, InitOptions, MatchingMode, NeighborArgs};

#[test]
fn timeline_activities_reach_the_trace_and_drop_finalizes() {
    let prefix = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bluefog-rust-timeline-");
    let options = InitOptions {
        timeline_prefix: Some(prefix.to_str().unwrap().to_owned()),
        matching_mode: MatchingMode::Named,
        ..InitOptions::default()
    };
    let bf = Context::with_options(&options).expect("init");
    assert_eq!(bf.matching_mode(), MatchingMode::Named);
    let rank = bf.rank();
    {
        let _step = bf.timeline_activity("rust.step", "compute").unwrap();
        let mut x = vec![1.0f32; 16];
        bf.neighbor_allreduce_in_place(&mut x, &NeighborArgs::new().named("rust.step")).unwrap();
        assert!(x.iter().all(|&v| v == 1.0));
    }
    drop(bf);
    assert!(!bluefog::is_initialized(), "dropping the Context did not finalize");

    let path = format!("{}{rank}.json", prefix.display());
    let trace = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let trimmed = trace.trim();
    assert!(trimmed.starts_with('[') && trimmed.ends_with(']'), "not a closed JSON array: {path}");
    assert!(trace.contains("\"compute\""), "activity missing from {path}");
    assert!(trace.contains("rust.step"), "name missing from {path}");
}
