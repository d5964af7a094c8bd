//! `tenure-sim run` and `tenure-sim swarm`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tenure_sim::plan::DAY;
use tenure_sim::{NAMES, Scale, replay_command, scenario};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tenure-sim", about = "Tenure's deterministic simulator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one named scenario (or `swarm`: the swarm's draw for this seed).
    Run {
        #[arg(long)]
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        components: usize,
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// Write the event trace to this file.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
    },
    /// Run seeds `first..first+seeds`, each drawing a scenario and its faults.
    Swarm {
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        #[arg(long, default_value_t = 0)]
        first: u64,
    },
    /// List the named scenarios.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List => {
            for n in NAMES {
                println!("{n}");
            }
            ExitCode::SUCCESS
        }
        Cmd::Run {
            scenario: name,
            seed,
            components,
            days,
            trace,
        } => {
            let plan = if name == "swarm" {
                scenario::swarm(seed)
            } else {
                match scenario::named(&name, seed, components, days, Scale::DEFAULT) {
                    Some(p) => p,
                    None => {
                        eprintln!("unknown scenario {name:?}; one of: {}", NAMES.join(", "));
                        return ExitCode::from(2);
                    }
                }
            };
            if let Some(need) = scenario::needed_ms(&name, Scale::DEFAULT)
                && need > days * DAY
            {
                eprintln!(
                    "warning: {name} needs {:.2} simulated days to reach its liveness check",
                    need as f64 / DAY as f64
                );
            }
            let writer: Option<Box<dyn std::io::Write>> = match trace {
                None => None,
                Some(path) => match std::fs::File::create(&path) {
                    Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
                    Err(e) => {
                        eprintln!("cannot write {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
            };
            let replay = replay_command(&plan);
            let report = tenure_sim::run(plan, writer);
            print!("{}", report.summary());
            if let Some(f) = report.failure() {
                println!("FAILED (seed {seed}): {f}");
                println!("replay: {replay}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Cmd::Swarm { seeds, first } => {
            let mut failed = 0u64;
            let mut by: std::collections::BTreeMap<String, u64> = Default::default();
            for seed in first..first + seeds {
                let plan = scenario::swarm(seed);
                let replay = replay_command(&plan);
                let name = plan.scenario.clone();
                let report = tenure_sim::run(plan, None);
                *by.entry(name.clone()).or_default() += 1;
                if let Some(f) = report.failure() {
                    failed += 1;
                    println!("seed {seed} ({name}) FAILED: {f}");
                    println!("  replay: {replay}");
                }
            }
            let mix: Vec<String> = by.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!(
                "swarm: {seeds} seeds from {first}, {failed} failed; mix: {}",
                mix.join(" ")
            );
            if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
