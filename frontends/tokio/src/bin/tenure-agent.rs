//! `tenure-agent`: runs a licensed command only while licensed (PROTOCOL.md
//! section 5). Exit codes are listed in docs/agent.md and `agent_cli::exit`.

#[path = "../agent_cli/mod.rs"]
mod agent_cli;

fn main() -> std::process::ExitCode {
    agent_cli::main()
}
