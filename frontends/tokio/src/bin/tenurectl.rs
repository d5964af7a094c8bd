//! `tenurectl`: the vendor's and the administrator's tool (docs/protocol.md section 7).

#[path = "../ctl/mod.rs"]
mod ctl;

fn main() -> std::process::ExitCode {
    ctl::main()
}
